package forward

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"strings"

	"passerelle/bridge/omemo"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/gateway/mime"
)

// Notices shown by clients that cannot read what the stanza carries.
const (
	noticeOX = "This mail was forwarded by Passerelle and is end-to-end encrypted " +
		"with OpenPGP for XMPP (XEP-0373). Use an OX-capable client (e.g. Gajim, Profanity) to read it."
	noticePlain = "[Passerelle: this mail was NOT end-to-end encrypted: no usable OpenPGP key " +
		"was published for your address.]"
)

const (
	nsHints  = "urn:xmpp:hints" // XEP-0334
	nsEME    = "urn:xmpp:eme:0" // XEP-0380
	nsSID    = "urn:xmpp:sid:0" // XEP-0359
	nsClient = ""               // children inherit the stanza's namespace
)

func text(local, s string) []xml.Token {
	start := xml.StartElement{Name: xml.Name{Space: nsClient, Local: local}}
	return []xml.Token{start, xml.CharData(s), start.End()}
}

func empty(space, local string, attrs ...string) []xml.Token {
	start := xml.StartElement{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return []xml.Token{start, start.End()}
}

// oxChildren are the children of an OX <message/>: the notice, the
// <openpgp/> element and the hints outside the encryption (XEP-0374 §2.1).
func oxChildren(ciphertext []byte, originID string) []xml.Token {
	toks := text("body", noticeOX)
	open := xml.StartElement{Name: xml.Name{Space: ox.NS, Local: "openpgp"}}
	toks = append(toks, open, xml.CharData(base64.StdEncoding.EncodeToString(ciphertext)), open.End())
	return append(toks, trailer(originID, ox.NS)...)
}

// omemoChildren are the children of an OMEMO <message/>: the notice, the
// spooled <encrypted/> element and the hints (XEP-0384 v0.3 §4.5, XEP-0380).
func omemoChildren(spooled []byte, originID string) ([]xml.Token, error) {
	e, err := omemo.Parse(spooled)
	if err != nil {
		return nil, err
	}
	toks := append(text("body", noticeOMEMO), e.Tokens()...)
	return append(toks, trailer(originID, omemo.NS)...), nil
}

// errPlainTooLarge: the mail, carried whole in the clear, would not fit
// one stanza. Only encrypted mail travels through HTTP upload, and the
// plaintext route never drops a mail's attachments or HTML to make it fit.
var errPlainTooLarge = errors.New("forward: mail too large for a plaintext stanza")

// plainOverhead is what the <message/> element around the children adds:
// its attributes (to, from, id, type) and the namespace.
const plainOverhead = 1024

// plainChildren carry a mail in the clear, where policy allowed it: a
// subject, the text rendition with a notice (and the unverified-sender
// warning naming unverified, the sender address, if set), and the full
// message in <mail/>. It fails
// with errPlainTooLarge when that does not fit a stanza of maxStanza.
func plainChildren(m *mime.Message, raw []byte, originID string, maxStanza int, unverified string) ([]xml.Token, error) {
	if stanzaSize(len(raw)) > maxStanza { // the <mail/> alone is too big
		return nil, errPlainTooLarge
	}
	var toks []xml.Token
	if m.Subject != "" {
		toks = append(toks, text("subject", m.Subject)...)
	}
	p := payloadFor(m, raw)
	notice := noticePlain + "\n\n"
	if unverified != "" {
		notice += unverifiedNotice(unverified)
	}
	toks = append(toks, text("body", notice+strings.TrimSpace(p.Body))...)
	mail, err := payload.MailTokens(p.Mail)
	if err != nil {
		return nil, err
	}
	toks = append(append(toks, mail...), trailer(originID, "")...)
	if n, err := encodedSize(toks); err != nil || n+plainOverhead > maxStanza {
		return nil, errors.Join(errPlainTooLarge, err)
	}
	return toks, nil
}

// encodedSize is the length of toks written as XML.
func encodedSize(toks []xml.Token) (int, error) {
	var w countWriter
	enc := xml.NewEncoder(&w)
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return 0, err
		}
	}
	err := enc.Flush()
	return int(w), err
}

type countWriter int

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

// trailer: the hints; eme, if set, is the XEP-0380 encryption namespace.
func trailer(originID string, eme string) []xml.Token {
	toks := empty(nsHints, "store")
	if eme != "" {
		toks = append(toks, empty(nsEME, "encryption", "namespace", eme)...)
	}
	return append(toks, empty(nsSID, "origin-id", "id", originID)...)
}
