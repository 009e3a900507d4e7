package xmpptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"net"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
)

// DialClient logs user@host in over the c2s port at addr. It dials TCP
// itself (mellium's DialClientSession does DNS SRV lookups), negotiates
// STARTTLS against roots with host as the server name, authenticates with
// SCRAM-SHA-1 (Prosody 0.12 offers no SCRAM-SHA-256), binds a resource and
// sends initial presence, so the server routes bare-JID messages to the
// session and flushes offline messages to it. The caller runs Serve and
// closes the session.
func DialClient(ctx context.Context, addr, host, user, password string, roots *x509.CertPool) (*xmpp.Session, error) {
	j, err := jid.New(user, host, "")
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	sess, err := xmpp.NewClientSession(ctx, j, conn,
		xmpp.StartTLS(cfg),
		xmpp.SASL("", password, sasl.ScramSha1),
		xmpp.BindResource(),
	)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in as %s: %w", j, err)
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

// DialComponent logs in as the external component name over XEP-0114 at
// addr (TCP dialled here, no DNS). The caller runs Serve and closes the
// session.
func DialComponent(ctx context.Context, addr, name, secret string) (*xmpp.Session, error) {
	j, err := jid.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("component jid %q: %w", name, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial component port %s: %w", addr, err)
	}
	sess, err := component.NewSession(ctx, j, []byte(secret), conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("component handshake %s: %w", name, err)
	}
	return sess, nil
}
