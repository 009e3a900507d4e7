package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"passerelle/gateway/queue"
)

// dotBody has lines that need dot-stuffing, and one that ends DATA if the
// client forgets it.
const dotBody = "From: a@example.net\r\nSubject: dots\r\n\r\n.\r\n..\r\n...\r\n.x\r\n\r\n.\r\n\r\n.\r\nend\r\n"

func TestSendByteExact(t *testing.T) {
	ts := startServer(t, serverOpts{})
	tg := newTestTarget(t, ts.port, nil)
	if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
	r := ts.next(t)
	if !bytes.Equal(r.body, []byte(dotBody)) {
		t.Errorf("body = %q, want %q", r.body, dotBody)
	}
	if r.from != "alice@example.net" || r.to != "bob@example.org" || r.helo != "gw.example.net" {
		t.Errorf("envelope = %q -> %q, EHLO %q", r.from, r.to, r.helo)
	}
	if r.tls {
		t.Error("TLS without STARTTLS offered")
	}
}

func TestSTARTTLSUsedWhenOffered(t *testing.T) {
	cert, _ := testCert(t)
	ts := startServer(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	tg := newTestTarget(t, ts.port, nil)
	if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
	r := ts.next(t)
	if !r.tls || r.helo != "gw.example.net" || !bytes.Equal(r.body, []byte(dotBody)) {
		t.Errorf("tls = %v, EHLO %q, body %q", r.tls, r.helo, r.body)
	}
}

func TestSTARTTLSHandshakeFailureFallsBack(t *testing.T) {
	broken := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate")
	}}
	ts := startServer(t, serverOpts{tls: broken})
	tg := newTestTarget(t, ts.port, nil)
	if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
	if r := ts.next(t); r.tls {
		t.Error("delivered over TLS with a broken certificate")
	}
}

func TestTLSPolicy(t *testing.T) {
	cert, pool := testCert(t)
	withTLS := startServer(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	plain := startServer(t, serverOpts{})
	required := Policy{Level: TLSVerify}
	dane := Policy{Level: TLSVerify, Verify: func(host string, cs tls.ConnectionState) error {
		if host != "mx.test" || len(cs.PeerCertificates) == 0 {
			return errors.New("no match")
		}
		return nil
	}}
	refuse := Policy{Level: TLSVerify, Verify: func(string, tls.ConnectionState) error { return errors.New("no TLSA match") }}
	noMX := Policy{AllowMX: func(string) bool { return false }}
	tests := []struct {
		name       string
		port       int
		pol        Policy
		roots      bool
		wantErr    bool
		wantStatus string
	}{
		{name: "verified", port: withTLS.port, pol: required, roots: true},
		{name: "custom verification", port: withTLS.port, pol: dane},
		{name: "custom verification fails", port: withTLS.port, pol: refuse, wantErr: true, wantStatus: "4.7.5"},
		{name: "untrusted certificate", port: withTLS.port, pol: required, wantErr: true, wantStatus: "4.7.5"},
		{name: "no STARTTLS", port: plain.port, pol: required, wantErr: true, wantStatus: "4.7.10"},
		{name: "MX not allowed", port: withTLS.port, pol: noMX, wantErr: true, wantStatus: "4.7.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTestTarget(t, tt.port, func(c *Config) {
				c.TLSPolicy = func(context.Context, string) (Policy, error) { return tt.pol, nil }
				c.Resolver.(*fakeResolver).mx["example.org"][0].Host = "mx.test"
				if tt.roots {
					c.RootCAs = pool
				}
			})
			err := tg.Send(context.Background(), msg("bob@example.org", dotBody))
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if r := withTLS.next(t); !r.tls {
					t.Error("not delivered over TLS")
				}
				return
			}
			wantOutcome(t, err, false, tt.wantStatus)
		})
	}
}

func TestReplyMapping(t *testing.T) {
	ts := startServer(t, serverOpts{rcpt: map[string]*smtp.SMTPError{
		"perm@example.org": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
		"temp@example.org": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"},
	}})
	rejectData := startServer(t, serverOpts{data: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}})
	tests := []struct {
		name          string
		port          int
		to            string
		wantPermanent bool
		wantStatus    string
		wantText      string
	}{
		{"rcpt 5xx", ts.port, "perm@example.org", true, "5.1.1", "550 5.1.1 no such user"},
		{"rcpt 4xx", ts.port, "temp@example.org", false, "4.2.0", "451 4.2.0 try later"},
		{"data 5xx", rejectData.port, "bob@example.org", true, "5.6.0", "554 5.6.0 content rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTestTarget(t, tt.port, nil)
			err := tg.Send(context.Background(), msg(tt.to, dotBody))
			d := wantOutcome(t, err, tt.wantPermanent, tt.wantStatus)
			if d.Text != tt.wantText || d.Type != "smtp" || d.RemoteMTA != "mx.test" {
				t.Errorf("diagnostic = %+v", d)
			}
		})
	}
	// A rejected recipient does not affect the next one.
	tg := newTestTarget(t, ts.port, nil)
	if err := tg.Send(context.Background(), msg("ok@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
}

func TestSIZETooSmall(t *testing.T) {
	ts := startServer(t, serverOpts{maxBytes: 100})
	tg := newTestTarget(t, ts.port, nil)
	err := tg.Send(context.Background(), msg("bob@example.org", dotBody+strings.Repeat("x", 200)))
	wantOutcome(t, err, true, "5.3.4")
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		r.n--
		return copy(p, "Subject: x\r\n"), nil
	}
	return 0, queue.ErrDamaged
}

func TestBodyReadErrorAbortsData(t *testing.T) {
	ts := startServer(t, serverOpts{})
	tg := newTestTarget(t, ts.port, nil)
	m := msg("bob@example.org", "")
	m.Body = &failingReader{n: 3}
	err := tg.Send(context.Background(), m)
	if !errors.Is(err, queue.ErrDamaged) {
		t.Fatalf("err = %v, want ErrDamaged", err)
	}
	select {
	case r := <-ts.got:
		t.Fatalf("truncated message delivered: %q", r.body)
	default:
	}
}

func TestCancelledContext(t *testing.T) {
	ts := startServer(t, serverOpts{})
	tg := newTestTarget(t, ts.port, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := tg.Send(ctx, msg("bob@example.org", dotBody))
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("err = %v, want temporary", err)
	}
}
