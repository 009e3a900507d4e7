package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"
)

var errClosed = net.ErrClosed

// startTLS runs STARTTLS here rather than in go-smtp, so the strict reader
// stays between TLS and go-smtp (RFC 3207).
func (c *conn) startTLS(text string) {
	switch {
	case !strings.EqualFold(text, "STARTTLS"):
		c.reply(lineTLSArgs)
	case c.srv.cfg.TLS == nil:
		c.reply(lineNoTLS)
	case c.tls != nil:
		c.reply(lineTLSActive)
	case c.waiting(probeWindow): // RFC 3207 §5, CVE-2011-0411
		c.fail(lineTLSInjection, "data sent before TLS handshake")
	default:
		c.handshake()
	}
}

func (c *conn) handshake() {
	c.emit(lineTLSReady)
	if c.dead.Load() {
		return
	}
	tc := tls.Server(c.raw, c.srv.cfg.TLS)
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.ReadTimeout)
	defer cancel()
	_ = c.raw.SetDeadline(time.Time{})
	if err := tc.HandshakeContext(ctx); err != nil {
		c.log.Info("TLS handshake failed", zap.Error(err))
		c.kill()
		return
	}
	st := tc.ConnectionState()
	c.log.Debug("TLS established", zap.String("version", tls.VersionName(st.Version)),
		zap.String("cipher", tls.CipherSuiteName(st.CipherSuite)))
	c.tls, c.rw = tc, tc
	c.needEHLO, c.mode = true, modeCommand
}

func timeAfter(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// isTLS reports whether STARTTLS has completed.
func (c *conn) isTLS() bool { return c.tls != nil }

var errNotOurConn = errors.New("smtpd: connection not created by this package")
