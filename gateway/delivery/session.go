package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
)

// quitTimeout bounds the wait for the reply to QUIT.
const quitTimeout = 10 * time.Second

type tlsMode int

const (
	tlsNone          tlsMode = iota // plaintext (level none, or fallback after a failed handshake)
	tlsOpportunistic                // STARTTLS if offered, unverified
	tlsRequired                     // STARTTLS or fail; verified as tlsConfig says
	tlsImplicit                     // TLS from the first byte, verified
)

// session is one connection attempt to one address.
type session struct {
	host      string // name for SNI, verification and diagnostics
	addr      string // host:port to dial
	mode      tlsMode
	tlsConfig *tls.Config
	auth      bool // AUTH with the smarthost credentials
	tls       bool // TLS is up
	fellBack  bool // opportunistic STARTTLS failed; this is the plaintext retry
}

// plaintextReason says why a session without TLS had none.
func (s *session) plaintextReason() string {
	switch {
	case s.fellBack:
		return "starttls_failed"
	case s.mode == tlsOpportunistic:
		return "no_starttls"
	}
	return "tls_none"
}

// attempt runs one SMTP session for m. Errors from the remote side are
// *hostError; a body read error is returned as it is.
func (t *Target) attempt(ctx context.Context, s *session, m *Message) error {
	d := net.Dialer{Timeout: t.cfg.ConnectTimeout}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return &hostError{host: s.host, stage: stageConnect, err: err}
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	c, err := t.open(ctx, s, &timeoutConn{Conn: raw, write: t.cfg.DataTimeout})
	if err == nil {
		err = t.transact(c, s, m)
	}
	if err != nil {
		return contextError(ctx, err)
	}
	// The message is accepted: a slow or failed QUIT changes nothing.
	c.CommandTimeout = min(c.CommandTimeout, quitTimeout)
	_ = c.Quit()
	if !s.tls {
		t.cfg.Metrics.PlaintextDelivery(s.plaintextReason())
	}
	t.log.Info("delivered", zap.String("id", m.ID), zap.String("rcpt", t.cfg.HashAddress(m.To)),
		zap.String("host", s.host), zap.String("addr", s.addr), zap.Bool("tls", s.tls))
	return nil
}

// open greets the server and sets up TLS and AUTH as s requires.
func (t *Target) open(ctx context.Context, s *session, conn net.Conn) (*smtp.Client, error) {
	fail := func(st stage, err error) (*smtp.Client, error) {
		return nil, &hostError{host: s.host, stage: st, err: err}
	}
	if s.mode == tlsImplicit {
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(stageTLS, err)
		}
		conn, s.tls = tc, true
	}
	c := t.newClient(conn)
	if err := c.Hello(t.cfg.Hostname); err != nil {
		return fail(stageGreeting, err)
	}
	if s.mode == tlsOpportunistic || s.mode == tlsRequired {
		var err error
		if c, err = t.startTLS(ctx, s, c, conn); err != nil {
			return fail(stageTLS, err)
		}
	}
	if s.auth {
		if err := t.authenticate(s, c); err != nil {
			return fail(stageAuth, err)
		}
	}
	return c, nil
}

// startTLS upgrades c if the server offers STARTTLS (RFC 3207) and returns
// the client to use from then on.
func (t *Target) startTLS(ctx context.Context, s *session, c *smtp.Client, conn net.Conn) (*smtp.Client, error) {
	if ok, _ := c.Extension("STARTTLS"); !ok {
		if s.mode == tlsRequired {
			return nil, &statusError{status: "4.7.10", msg: "STARTTLS not offered but TLS is required"}
		}
		return c, nil
	}
	tc, err := startTLS(ctx, conn, s.tlsConfig, t.cfg.CommandTimeout)
	if err != nil {
		return nil, err
	}
	s.tls = true
	c = t.newClient(newGreetedConn(tc))
	return c, c.Hello(t.cfg.Hostname)
}

// authenticate runs AUTH PLAIN or LOGIN (RFC 4954), only over TLS.
func (t *Target) authenticate(s *session, c *smtp.Client) error {
	if !s.tls {
		return &statusError{status: "4.7.10", msg: "refusing AUTH without TLS"}
	}
	sh := t.cfg.Smarthost
	switch {
	case c.SupportsAuth("PLAIN"):
		return c.Auth(sasl.NewPlainClient("", sh.Username, sh.Password))
	case c.SupportsAuth("LOGIN"):
		return c.Auth(sasl.NewLoginClient(sh.Username, sh.Password))
	}
	return &statusError{status: "4.7.4", msg: "server offers neither AUTH PLAIN nor LOGIN"}
}

func (t *Target) newClient(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	c.CommandTimeout = t.cfg.CommandTimeout
	c.SubmissionTimeout = t.cfg.FinalTimeout
	return c
}

// mxTLS is the TLS configuration for an MX host under pol. Below
// TLSVerify nothing is verified (RFC 3207 §4.1 leaves it to local policy):
// the encryption only defeats passive observers.
func (t *Target) mxTLS(host string, pol Policy) *tls.Config {
	if pol.Level != TLSVerify {
		return opportunisticTLS(host)
	}
	cfg := &tls.Config{ServerName: host, RootCAs: t.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	if pol.Verify != nil {
		cfg.InsecureSkipVerify = true // replaced by VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return pol.Verify(host, cs) }
	}
	return cfg
}

// opportunisticTLS is unverified TLS 1.2 or later (RFC 8996 deprecates
// 1.0 and 1.1; under TLSMay such a server is retried in plaintext, as by
// a Postfix whose smtp_tls_protocols exclude them).
func opportunisticTLS(host string) *tls.Config {
	//nolint:gosec // opportunistic TLS: unverified encryption beats plaintext
	return &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
}

func (t *Target) smarthostTLS(host string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.cfg.Smarthost.TLSConfig != nil {
		cfg = t.cfg.Smarthost.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

// statusError is a failure decided here during a session, with its RFC
// 3463 code.
type statusError struct {
	status    string
	msg       string
	permanent bool
}

func (e *statusError) Error() string { return fmt.Sprintf("%s %s", e.status, e.msg) }
