package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// login opens alice's client session: TCP to the c2s port (no DNS SRV
// lookup), STARTTLS against the demo certificate, SCRAM-SHA-1 (Prosody 0.12
// offers no SCRAM-SHA-256), resource binding, then initial presence so that
// Prosody routes messages for the bare JID to this session (RFC 6121 §4.2).
func login(ctx context.Context, o options) (*xmpp.Session, error) {
	addr, err := jid.New(o.User, o.Domain, "")
	if err != nil {
		return nil, fmt.Errorf("jid %s@%s: %w", o.User, o.Domain, err)
	}
	pool, err := loadCA(o.CAFile)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.C2S)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.C2S, err)
	}
	tlsCfg := &tls.Config{ServerName: o.Domain, RootCAs: pool, MinVersion: tls.VersionTLS12}
	sess, err := xmpp.NewClientSession(ctx, addr, conn,
		xmpp.StartTLS(tlsCfg),
		xmpp.SASL("", o.Password, sasl.ScramSha1),
		xmpp.BindResource(),
	)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in as %s: %w", addr, err)
	}
	presence := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "presence"}})
	if err := sess.Send(ctx, presence); err != nil {
		sess.Close()
		return nil, fmt.Errorf("send presence: %w", err)
	}
	return sess, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in " + path)
	}
	return pool, nil
}
