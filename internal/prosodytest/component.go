package prosodytest

import (
	"context"
	"fmt"
	"net"

	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
)

// DialComponent logs in as s.Component over XEP-0114 (TCP dialled here, no
// DNS). The caller runs Serve and closes the session.
func (s *Server) DialComponent(ctx context.Context) (*xmpp.Session, error) {
	addr, err := jid.Parse(s.Component)
	if err != nil {
		return nil, fmt.Errorf("component jid %q: %w", s.Component, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.ComponentAddr)
	if err != nil {
		return nil, fmt.Errorf("dial component port %s: %w", s.ComponentAddr, err)
	}
	sess, err := component.NewSession(ctx, addr, []byte(s.ComponentSecret), conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("component handshake %s: %w", s.Component, err)
	}
	return sess, nil
}
