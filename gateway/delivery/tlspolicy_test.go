package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
)

var errNoCert = errors.New("no certificate")

func TestTLSPoliciesLevel(t *testing.T) {
	p := TLSPolicies{Default: TLSMay, Domains: map[string]TLSLevel{
		"bank.example": TLSVerify, ".bank.example": TLSEncrypt, ".corp.example": TLSEncrypt,
		"legacy.corp.example": TLSNone,
	}}
	for _, tc := range []struct {
		domain string
		want   TLSLevel
	}{
		{"bank.example", TLSVerify}, {"Bank.Example.", TLSVerify}, {"mx.bank.example", TLSEncrypt},
		{"a.b.bank.example", TLSEncrypt}, {"corp.example", TLSMay}, {"x.corp.example", TLSEncrypt},
		{"legacy.corp.example", TLSNone}, {"other.example", TLSMay}, {"example", TLSMay},
		{"notbank.example", TLSMay},
	} {
		if got := p.Level(tc.domain); got != tc.want {
			t.Errorf("Level(%s) = %v, want %v", tc.domain, got, tc.want)
		}
	}
}

func TestParseTLSLevel(t *testing.T) {
	for in, want := range map[string]TLSLevel{"none": TLSNone, "may": TLSMay, "opportunistic": TLSMay,
		"encrypt": TLSEncrypt, "required": TLSEncrypt, "verify": TLSVerify} {
		if got, err := ParseTLSLevel(in); err != nil || got != want {
			t.Errorf("ParseTLSLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseTLSLevel("dane"); err == nil {
		t.Error("dane accepted")
	}
}

// TestTLSLevels runs each level against real go-smtp servers: one with a
// working certificate, one whose handshake fails, one that offers only
// TLS 1.0-1.1, one without STARTTLS (a stripping attacker looks like
// this). Under encrypt and verify nothing is ever sent in plaintext: the
// delivery fails temporarily (4.7.x, retried by the queue, DSN at expiry)
// and the server received no mail. Under may the broken handshakes fall
// back to plaintext, as Postfix does.
func TestTLSLevels(t *testing.T) {
	cert, pool := testCert(t)
	good := startServer(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	broken := startServer(t, serverOpts{tls: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errNoCert
	}}})
	old := startServer(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS11}})
	plain := startServer(t, serverOpts{})
	tests := []struct {
		name       string
		srv        *testServer
		level      TLSLevel
		wantTLS    bool
		wantStatus string // "" delivered
	}{
		{name: "may, good", srv: good, level: TLSMay, wantTLS: true},
		{name: "may, broken handshake falls back", srv: broken, level: TLSMay},
		{name: "may, TLS 1.1 only falls back", srv: old, level: TLSMay},
		{name: "may, no STARTTLS", srv: plain, level: TLSMay},
		{name: "none, STARTTLS offered but not used", srv: good, level: TLSNone},
		{name: "encrypt, good (not verified)", srv: good, level: TLSEncrypt, wantTLS: true},
		{name: "encrypt, broken handshake", srv: broken, level: TLSEncrypt, wantStatus: "4.7.5"},
		{name: "encrypt, TLS 1.1 only", srv: old, level: TLSEncrypt, wantStatus: "4.7.5"},
		{name: "encrypt, no STARTTLS", srv: plain, level: TLSEncrypt, wantStatus: "4.7.10"},
		{name: "verify, good", srv: good, level: TLSVerify, wantTLS: true},
		{name: "verify, broken handshake", srv: broken, level: TLSVerify, wantStatus: "4.7.5"},
		{name: "verify, no STARTTLS", srv: plain, level: TLSVerify, wantStatus: "4.7.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTestTarget(t, tt.srv.port, func(c *Config) {
				c.TLSPolicy = TLSPolicies{Default: TLSMay, Domains: map[string]TLSLevel{"example.org": tt.level}}.Policy
				c.Resolver.(*fakeResolver).mx["example.org"][0].Host = "mx.test"
				c.RootCAs = pool
			})
			err := tg.Send(context.Background(), msg("bob@example.org", dotBody))
			if tt.wantStatus != "" {
				wantOutcome(t, err, false, tt.wantStatus)
				// Send is synchronous: had it fallen back to plaintext,
				// the mail would be in the server's queue by now.
				if n := len(tt.srv.got); n != 0 {
					t.Fatalf("server received %d mails", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := tt.srv.next(t); r.tls != tt.wantTLS {
				t.Errorf("tls = %v, want %v", r.tls, tt.wantTLS)
			}
		})
	}
}
