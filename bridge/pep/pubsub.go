package pep

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
)

// metadataItemID is the item id of the metadata node (XEP-0373 §4).
const metadataItemID = "current"

// pubsubRequest is the <pubsub/> child of an XEP-0060 request.
type pubsubRequest struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/pubsub pubsub"`
	Items   *struct {
		Node string `xml:"node,attr"`
	} `xml:"items"`
}

// handlePubsub answers an XEP-0060 §6.5 items request to a puppet JID with
// its metadata node or its key node (XEP-0373 §4). Other requests
// to puppets are not supported; unknown JIDs and nodes are item-not-found.
// Who may make a new puppet's key is puppetKey's decision.
func (r *Responder) handlePubsub(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	var req pubsubRequest
	if err := xml.NewTokenDecoder(payload).Decode(&req); err != nil {
		return nil, stanzaErr(stanza.Modify, stanza.BadRequest)
	}
	if req.Items == nil {
		return nil, stanzaErr(stanza.Cancel, stanza.FeatureNotImplemented)
	}
	p, ok := r.puppet(iq.To)
	if ok {
		if items, handled, err := r.handleOMEMO(ctx, iq.From, p, req.Items.Node); handled {
			return items, err
		}
	}
	if !ok || (req.Items.Node != NodeMetadata && !isKeyNode(req.Items.Node)) {
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
	}
	e, err := r.puppetKey(ctx, iq.From, p, req.Items.Node == NodeMetadata)
	if err != nil {
		return nil, err
	}
	fpr := string(keys.FingerprintOf(e))
	switch req.Items.Node {
	case NodeMetadata:
		return metadataItems(fpr, keyDate(e)), nil
	case KeyNode(fpr):
		return r.pubkeyItems(e, fpr)
	}
	return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
}

func isKeyNode(node string) bool {
	return len(node) == len(NodeMetadata)+1+40 && node[:len(NodeMetadata)+1] == NodeMetadata+":"
}

// keyDate is the key's creation time in XEP-0082 form: stable, so clients
// that cache by date do not fetch the key again.
func keyDate(e *openpgp.Entity) string {
	return e.PrimaryKey.CreationTime.UTC().Format(time.RFC3339)
}

func metadataItems(fpr, date string) xml.TokenReader {
	meta := elem(xml.Name{Space: NSOX, Local: "pubkey-metadata"}, attrs("v4-fingerprint", fpr, "date", date))
	list := elem(xml.Name{Space: NSOX, Local: "public-keys-list"}, nil, meta)
	return itemsElem(NodeMetadata, metadataItemID, list)
}

// pubkeyItems serialises the public part of e only: Entity.Serialize
// writes public key packets and signatures, never secret key material.
func (r *Responder) pubkeyItems(e *openpgp.Entity, fpr string) (xml.TokenReader, error) {
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		r.log.Error("serialise puppet key", zap.String("fingerprint", fpr), zap.Error(err))
		return nil, stanzaErr(stanza.Wait, stanza.InternalServerError)
	}
	date := keyDate(e)
	data := elem(xml.Name{Local: "data"}, nil,
		xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(buf.Bytes()))))
	pubkey := elem(xml.Name{Space: NSOX, Local: "pubkey"}, attrs("date", date), data)
	return itemsElem(KeyNode(fpr), date, pubkey), nil
}

// itemsElem wraps one item's payload in <pubsub><items><item/></items></pubsub>.
func itemsElem(node, id string, payload xml.TokenReader) xml.TokenReader {
	item := elem(xml.Name{Local: "item"}, attrs("id", id), payload)
	items := elem(xml.Name{Local: "items"}, attrs("node", node), item)
	return elem(xml.Name{Space: NSPubsub, Local: "pubsub"}, nil, items)
}

func elem(name xml.Name, a []xml.Attr, inner ...xml.TokenReader) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{Name: name, Attr: a})
}

// attrs builds attributes from name, value pairs.
func attrs(kv ...string) []xml.Attr {
	a := make([]xml.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		a = append(a, xml.Attr{Name: xml.Name{Local: kv[i]}, Value: kv[i+1]})
	}
	return a
}
