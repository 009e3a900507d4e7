package peer

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
)

// Publisher serves our side of discovery over XMPP: the domain public key
// (<key xmlns='urn:passerelle:peer:0'/>), and the disco#info form
// (Info, for bridge/pep's responder).
type Publisher struct {
	fpr     string
	pub     []byte
	domains []string
}

// NewPublisher serialises the public part of key.
func NewPublisher(key *openpgp.Entity, domains []string) (*Publisher, error) {
	if key == nil {
		return nil, errors.New("peer: publisher needs the domain key")
	}
	var b bytes.Buffer
	if err := key.Serialize(&b); err != nil { // public parts only
		return nil, fmt.Errorf("peer: serialise domain key: %w", err)
	}
	return &Publisher{fpr: Fingerprint(key), pub: b.Bytes(), domains: domains}, nil
}

// Register installs the key IQ handler.
func (p *Publisher) Register(mux *xmpp.Mux) {
	mux.HandleIQ(stanza.GetIQ, peermsg.KeyName(), p.handleKey)
}

func (p *Publisher) handleKey(_ context.Context, iq stanza.IQ, _ xml.TokenReader) (xml.TokenReader, error) {
	if iq.To.Localpart() != "" { // the key belongs to the component's domain JID
		return nil, stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}
	}
	return xmpp.Tokens(peermsg.KeyTokens(p.fpr, p.pub)...), nil
}

// Feature is the disco#info feature of the peer route.
const Feature = peermsg.NS

// Form is the XEP-0128 form for the component's disco#info.
func (p *Publisher) Form() []xml.Token {
	return peermsg.Info{Fingerprint: p.fpr, Domains: p.domains}.FormTokens()
}
