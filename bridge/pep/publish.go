package pep

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmlstream"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
)

// ClientQuerier implements Querier on a client session (an OX client, the
// demo, tests), classifying error answers like the component does.
type ClientQuerier struct{ Session *mellium.Session }

func (q ClientQuerier) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	resp, err := q.Session.SendIQ(ctx, iq.Wrap(payload))
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

// publicKey serialises the public part of e.
func publicKey(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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

// PublishKey announces e as a client does per XEP-0373 §4: the key node
// first, then the metadata node, both with the given access model (OX asks
// for "open"; Prosody's default, "presence", hides the key from gateways).
func PublishKey(ctx context.Context, q Querier, e *openpgp.Entity, accessModel string) error {
	fpr := string(keys.FingerprintOf(e))
	date := keyDate(e)
	pub, err := publicKey(e)
	if err != nil {
		return fmt.Errorf("pep: serialise key: %w", err)
	}
	data := elem(xml.Name{Local: "data"}, nil,
		xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(pub))))
	pk := elem(xml.Name{Space: NSOX, Local: "pubkey"}, nil, data)
	if err := publish(ctx, q, KeyNode(fpr), date, accessModel, pk); err != nil {
		return err
	}
	meta := elem(xml.Name{Space: NSOX, Local: "pubkey-metadata"}, attrs("v4-fingerprint", fpr, "date", date))
	list := elem(xml.Name{Space: NSOX, Local: "public-keys-list"}, nil, meta)
	return publish(ctx, q, NodeMetadata, metadataItemID, accessModel, list)
}
