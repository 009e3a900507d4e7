package pep

import (
	"context"
	"encoding/xml"
	"slices"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// NSDiscoInfo is the XEP-0030 info namespace.
const NSDiscoInfo = "http://jabber.org/protocol/disco#info"

type identity struct{ category, typ, name string }

type discoRequest struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/disco#info query"`
	Node    string   `xml:"node,attr"`
}

// handleDiscoInfo answers XEP-0030 §3.1 info requests: the domain is an
// SMTP gateway (XEP-0030 registry: gateway/smtp); a puppet is an account
// with a PEP service (XEP-0163: account/registered and pubsub/pep)
// whose only content is its XEP-0373 key. Other JIDs and any node are
// item-not-found (XEP-0030 §3.1).
func (r *Responder) handleDiscoInfo(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	var req discoRequest
	if err := xml.NewTokenDecoder(payload).Decode(&req); err != nil {
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest)
	}
	if req.Node != "" {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
	}
	if iq.To.Equal(r.domain) {
		return discoInfo([]identity{{"gateway", "smtp", r.cfg.Name}}, r.domainFeatures(), r.cfg.Forms...), nil
	}
	if _, ok := r.puppet(iq.To); ok {
		return discoInfo([]identity{{"account", "registered", ""}, {"pubsub", "pep", ""}}, puppetFeatures()), nil
	}
	return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
}

func (r *Responder) domainFeatures() []string {
	return sortedSet(append([]string{NSDiscoInfo, NSOX}, r.cfg.Features...))
}

func puppetFeatures() []string {
	return sortedSet([]string{NSDiscoInfo, NSOX, NSPubsub, NSPubsub + "#retrieve-items"})
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

func discoInfo(ids []identity, features []string, forms ...[]xml.Token) xml.TokenReader {
	var inner []xml.TokenReader
	for _, id := range ids {
		a := attrs("category", id.category, "type", id.typ)
		if id.name != "" {
			a = append(a, attrs("name", id.name)...)
		}
		inner = append(inner, elem(xml.Name{Local: "identity"}, a))
	}
	for _, f := range features {
		inner = append(inner, elem(xml.Name{Local: "feature"}, attrs("var", f)))
	}
	for _, f := range forms { // XEP-0128: after identities and features
		for _, t := range f {
			inner = append(inner, xmlstream.Token(t))
		}
	}
	return elem(xml.Name{Space: NSDiscoInfo, Local: "query"}, nil, inner...)
}
