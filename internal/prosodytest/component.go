package prosodytest

import (
	"context"

	"mellium.im/xmpp"

	"passerelle/internal/xmpptest"
)

// DialComponent logs in as s.Component over XEP-0114 (TCP dialled here, no
// DNS). The caller runs Serve and closes the session.
func (s *Server) DialComponent(ctx context.Context) (*xmpp.Session, error) {
	return xmpptest.DialComponent(ctx, s.ComponentAddr, s.Component, s.ComponentSecret)
}
