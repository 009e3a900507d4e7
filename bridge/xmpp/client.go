package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"

	"go.uber.org/zap"
	"mellium.im/sasl"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// ErrAuth means the server refused the client's credentials (RFC 6120
// §6.5: SASL failure); Run keeps retrying with backoff, so that an
// operator who fixes the account need not restart, but nothing is sent.
var ErrAuth = errors.New("xmpp: authentication failed")

// clientSession negotiates a c2s session as Client.JID on conn: STARTTLS,
// or TLS from the first byte with Client.DirectTLS (required either way;
// mellium refuses SASL on an unencrypted stream), SASL
// SCRAM-SHA-256 or -SHA-1 (Prosody 0.12 offers SHA-1; never PLAIN, so a
// traced stream never shows the password), and a resource the server
// chooses (mellium v0.22 does not ask for one). Our stanzas carry no from:
// the server stamps the bound full JID (RFC 6120 §8.1.2.1).
func (c *Component) clientSession(ctx context.Context, conn net.Conn) (*mellium.Session, error) {
	cl := c.cfg.Client
	tc := cl.TLS
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = c.domain.Domainpart()
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	features := []mellium.StreamFeature{mellium.StartTLS(tc)}
	if cl.DirectTLS {
		tc.NextProtos = []string{"xmpp-client"}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("direct TLS to %s: %w", conn.RemoteAddr(), err)
		}
		conn, features = tconn, nil // mellium marks a *tls.Conn secure
	}
	features = append(features, mellium.SASL("", cl.Password, sasl.ScramSha256, sasl.ScramSha1), mellium.BindResource())
	sess, err := mellium.NewClientSession(ctx, c.domain, conn, features...)
	if err != nil {
		if isSASLFailure(err) {
			return nil, fmt.Errorf("%w as %s: %v", ErrAuth, c.domain.Bare(), err)
		}
		return nil, fmt.Errorf("client session as %s: %w", c.domain, err)
	}
	c.log.Info("client session bound", zap.Stringer("jid", sess.LocalAddr()))
	return sess, nil
}

// isSASLFailure reports whether err is the server's SASL <failure/>
// (RFC 6120 §6.4.5), which mellium returns as its internal saslerr.Error.
func isSASLFailure(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if t := reflect.TypeOf(e); t != nil && t.String() == "saslerr.Error" {
			return true
		}
	}
	return false
}

// from is the from of the stanzas we originate: the component's domain,
// or none on a client link (the server stamps it).
func (c *Component) from() jid.JID {
	if c.cfg.Client != nil {
		return jid.JID{}
	}
	return c.domain
}
