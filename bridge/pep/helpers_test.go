package pep

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap/zaptest"
	"mellium.im/xmlstream"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

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
func client(ctx context.Context, t *testing.T, srv *prosodytest.Server, user, pw string) clientQuerier {
	t.Helper()
	sess := srv.Client(ctx, t, user, pw)
	go func() { _ = sess.Serve(nil) }()
	return clientQuerier{sess}
}

// clientQuerier implements Querier on a client session, classifying error
// answers like the component does.
type clientQuerier struct{ sess *mellium.Session }

func (q clientQuerier) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	resp, err := q.sess.SendIQ(ctx, iq.Wrap(payload))
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	tok, err := resp.Token()
	if err != nil {
		return nil, err
	}
	start := tok.(xml.StartElement)
	if got, _ := stanza.NewIQ(start); got.Type == stanza.ErrorIQ {
		se, err := stanza.UnmarshalError(xmlstream.Inner(resp))
		if err != nil {
			return nil, err
		}
		return nil, xmpp.Classify(string(se.Condition), string(se.Type), "")
	}
	return bufferTokens(xmlstream.Inner(resp))
}

// bufferTokens copies r so it outlives the response.
func bufferTokens(r xml.TokenReader) (xml.TokenReader, error) {
	var toks []xml.Token
	for {
		tok, err := r.Token()
		if err == io.EOF {
			return &sliceReader{toks}, nil
		}
		if err != nil {
			return nil, err
		}
		toks = append(toks, xml.CopyToken(tok))
	}
}

type sliceReader struct{ toks []xml.Token }

func (s *sliceReader) Token() (xml.Token, error) {
	if len(s.toks) == 0 {
		return nil, io.EOF
	}
	tok := s.toks[0]
	s.toks = s.toks[1:]
	return tok, nil
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

// publicKey serialises the public part of e.
func publicKey(e *openpgp.Entity) []byte {
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// publish runs an XEP-0060 §7.1.5 publish with publish-options setting
// the node's access model.
func publish(ctx context.Context, q Querier, node, itemID, accessModel string, payload xml.TokenReader) error {
	item := elem(xml.Name{Local: "item"}, attrs("id", itemID), payload)
	pub := elem(xml.Name{Local: "publish"}, attrs("node", node), item)
	field := func(v, val string, a ...string) xml.TokenReader {
		return elem(xml.Name{Local: "field"}, attrs(append([]string{"var", v}, a...)...),
			elem(xml.Name{Local: "value"}, nil, xmlstream.Token(xml.CharData(val))))
	}
	form := elem(xml.Name{Space: "jabber:x:data", Local: "x"}, attrs("type", "submit"),
		field("FORM_TYPE", NSPubsub+"#publish-options", "type", "hidden"),
		field("pubsub#access_model", accessModel))
	opts := elem(xml.Name{Local: "publish-options"}, nil, form)
	r, err := q.IQ(ctx, stanza.IQ{Type: stanza.SetIQ}, elem(xml.Name{Space: NSPubsub, Local: "pubsub"}, nil, pub, opts))
	if err == nil {
		_, err = xmlstream.Copy(xmlstream.Discard(), r)
	}
	return err
}

// publishKey announces e per XEP-0373 §4: key node first, then metadata.
func publishKey(ctx context.Context, q clientQuerier, e *openpgp.Entity, accessModel string) error {
	fpr := fingerprint(e)
	date := keyDate(e)
	data := elem(xml.Name{Local: "data"}, nil,
		xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(publicKey(e)))))
	pk := elem(xml.Name{Space: NSOX, Local: "pubkey"}, nil, data)
	if err := publish(ctx, q, KeyNode(fpr), date, accessModel, pk); err != nil {
		return err
	}
	meta := elem(xml.Name{Space: NSOX, Local: "pubkey-metadata"}, attrs("v4-fingerprint", fpr, "date", date))
	list := elem(xml.Name{Space: NSOX, Local: "public-keys-list"}, nil, meta)
	return publish(ctx, q, NodeMetadata, metadataItemID, accessModel, list)
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
