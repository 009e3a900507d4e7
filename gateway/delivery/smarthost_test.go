package delivery

import (
	"context"
	"crypto/tls"
	"testing"
)

func TestSmarthost(t *testing.T) {
	cert, pool := testCert(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	starttls := startServer(t, serverOpts{tls: srvTLS, requireAuth: true})
	implicit := startServer(t, serverOpts{tls: srvTLS, implicitTLS: true, requireAuth: true})
	plain := startServer(t, serverOpts{requireAuth: true})
	tests := []struct {
		name       string
		ts         *testServer
		implicit   bool
		password   string
		wantStatus string // "" for success
	}{
		{name: "starttls", ts: starttls, password: "p"},
		{name: "implicit tls", ts: implicit, implicit: true, password: "p"},
		{name: "wrong password", ts: starttls, password: "x", wantStatus: "5.7.8"},
		{name: "no tls, no auth", ts: plain, password: "p", wantStatus: "4.7.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTestTarget(t, 0, func(c *Config) {
				c.Smarthost = &Smarthost{Addr: tt.ts.addr, ImplicitTLS: tt.implicit,
					Username: "u", Password: tt.password, TLSConfig: &tls.Config{RootCAs: pool}}
			})
			err := tg.Send(context.Background(), msg("bob@elsewhere.example", dotBody))
			if tt.wantStatus != "" {
				// Credentials and TLS are local configuration: retry.
				wantOutcome(t, err, false, tt.wantStatus)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := tt.ts.next(t); !r.tls || r.user != "u" || r.to != "bob@elsewhere.example" {
				t.Errorf("got tls=%v user=%q to=%q", r.tls, r.user, r.to)
			}
		})
	}
}

func TestSmarthostConfig(t *testing.T) {
	tests := []struct {
		name    string
		sh      *Smarthost
		wantErr bool
	}{
		{"ok", &Smarthost{Addr: "relay.example:587"}, false},
		{"no port", &Smarthost{Addr: "relay.example"}, true},
		{"plaintext auth", &Smarthost{Addr: "relay.example:25", Plaintext: true, Username: "u"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Hostname: "gw.example", Smarthost: tt.sh})
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
