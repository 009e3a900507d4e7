package prosodytest

import (
	"context"
	"testing"

	"mellium.im/xmpp"

	"passerelle/internal/xmpptest"
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
	return xmpptest.DialClient(ctx, s.C2SAddr, s.Domain, user, password, s.CertPool)
}
