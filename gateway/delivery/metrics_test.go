package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"testing"
)

type plainCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *plainCounts) PlaintextDelivery(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n[reason]++
}

// TestPlaintextDeliveryCounted: each message a server accepts without TLS
// is counted with why (mox's plaintext_fallback_total); TLS deliveries are not.
func TestPlaintextDeliveryCounted(t *testing.T) {
	cert, _ := testCert(t)
	broken := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate")
	}}
	tests := []struct {
		name   string
		tls    *tls.Config
		level  TLSLevel
		reason string // "" = not counted
	}{
		{"STARTTLS used", &tls.Config{Certificates: []tls.Certificate{cert}}, TLSMay, ""},
		{"no STARTTLS offered", nil, TLSMay, "no_starttls"},
		{"handshake failed, plaintext retry", broken, TLSMay, "starttls_failed"},
		{"TLS off", &tls.Config{Certificates: []tls.Certificate{cert}}, TLSNone, "tls_none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, serverOpts{tls: tc.tls})
			m := &plainCounts{n: map[string]int{}}
			tg := newTestTarget(t, ts.port, func(c *Config) {
				c.Metrics = m
				level := tc.level
				c.TLSPolicy = func(context.Context, string) (Policy, error) { return Policy{Level: level}, nil }
			})
			if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
				t.Fatal(err)
			}
			ts.next(t)
			want := map[string]int{}
			if tc.reason != "" {
				want[tc.reason] = 1
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if len(m.n) != len(want) || m.n[tc.reason] != want[tc.reason] {
				t.Errorf("counts %v, want %v", m.n, want)
			}
		})
	}
}
