package prosodytest

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Client logs user in over c2s and returns the session, closed on t.Cleanup.
// It dials TCP itself (no DNS), negotiates STARTTLS against the test CA,
// authenticates with SCRAM-SHA-1, binds a resource and sends initial
// presence, so Prosody routes bare-JID messages to it (and flushes any
// offline messages to it). The caller runs Serve to receive stanzas or use
// IQ helpers.
func (s *Server) Client(ctx context.Context, t testing.TB, user, password string) *xmpp.Session {
	t.Helper()
	sess, err := s.DialClient(ctx, user, password)
	if err != nil {
		t.Fatalf("prosodytest: client %s: %v", user, err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

// DialClient is Client without the testing.TB: it returns the error and the
// caller closes the session.
func (s *Server) DialClient(ctx context.Context, user, password string) (*xmpp.Session, error) {
	addr, err := jid.New(user, s.Domain, "")
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.C2SAddr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{ServerName: s.Domain, RootCAs: s.CertPool, MinVersion: tls.VersionTLS12}
	sess, err := xmpp.NewClientSession(ctx, addr, conn,
		xmpp.StartTLS(cfg),
		xmpp.SASL("", password, sasl.ScramSha1),
		xmpp.BindResource(),
	)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// RFC 6121 §4.2: without initial presence the session is not available
	// and messages to the bare JID go to offline storage instead.
	presence := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "presence"}})
	if err := sess.Send(ctx, presence); err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}
