package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap/zaptest"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

// startComponent runs a Component with mux against srv until the test ends.
func startComponent(t *testing.T, srv *prosodytest.Server, mux *xmpp.Mux) *xmpp.Component {
	t.Helper()
	c := xmpp.New(xmpp.Config{
		Addr: srv.ComponentAddr, Domain: srv.Component, Secret: srv.ComponentSecret,
		Log: zaptest.NewLogger(t), AckTimeout: 5 * time.Second, Mux: mux,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !c.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("component did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// client logs user in and serves the session so IQ helpers work.
func client(ctx context.Context, t *testing.T, srv *prosodytest.Server, user, pw string) ClientQuerier {
	t.Helper()
	sess := srv.Client(ctx, t, user, pw)
	go func() { _ = sess.Serve(nil) }()
	return ClientQuerier{Session: sess}
}

// newUserKey makes an XEP-0373 key for j: v4 EdDSA Ed25519 + ECDH Curve25519.
func newUserKey(t testing.TB, j string, created time.Time) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		Time: func() time.Time { return created }}
	e, err := openpgp.NewEntity("xmpp:"+j, "", "", cfg)
	if err != nil {
		t.Fatalf("NewEntity: %v", err)
	}
	return e
}

func fingerprint(e *openpgp.Entity) string { return string(keys.FingerprintOf(e)) }

// rawItems asks to for node's items and returns the answer as a string.
func rawItems(ctx context.Context, q Querier, to jid.JID, node string) (string, error) {
	s := &Source{cfg: SourceConfig{Client: q}}
	r, err := s.items(ctx, to, node)
	if err != nil {
		return "", err
	}
	return encode(r)
}

func encode(r xml.TokenReader) (string, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(enc, r); err != nil && err != io.EOF {
		return "", err
	}
	err := enc.Flush()
	return buf.String(), err
}

func mustPublic(e *openpgp.Entity) []byte {
	b, err := publicKey(e)
	if err != nil {
		panic(err)
	}
	return b
}
