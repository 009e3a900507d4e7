package forward

import (
	"encoding/base64"
	"encoding/xml"
	"strings"

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
	return append(toks, trailer(originID, true)...)
}

// plainChildren carry a mail in the clear, where policy allowed it: a
// subject, the text rendition with a notice, and the full message.
// A mail too large for the stanza (maxStanza) goes without its
// <mail/> element: only encrypted mail travels through HTTP upload.
func plainChildren(m *mime.Message, raw []byte, originID string, maxStanza int) ([]xml.Token, error) {
	var toks []xml.Token
	if m.Subject != "" {
		toks = append(toks, text("subject", m.Subject)...)
	}
	p := payloadFor(m, raw)
	withMail := stanzaSize(len(raw)) <= maxStanza
	notice := noticePlain
	if !withMail {
		notice += "\n[The full message (attachments, HTML) was too large to carry in the clear; only its text follows.]"
		p.Body = truncateText(p.Body, maxExternalText)
	}
	toks = append(toks, text("body", notice+"\n\n"+strings.TrimSpace(p.Body))...)
	if withMail {
		mail, err := payload.MailTokens(p.Mail)
		if err != nil {
			return nil, err
		}
		toks = append(toks, mail...)
	}
	return append(toks, trailer(originID, false)...), nil
}

func trailer(originID string, encrypted bool) []xml.Token {
	toks := empty(nsHints, "store")
	if encrypted {
		toks = append(toks, empty(nsEME, "encryption", "namespace", ox.NS)...)
	}
	return append(toks, empty(nsSID, "origin-id", "id", originID)...)
}
