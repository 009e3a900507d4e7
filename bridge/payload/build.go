package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Build serialises p as a <payload xmlns='urn:xmpp:openpgp:0'/> element.
// Text fields must be valid UTF-8 made of XML characters; nothing is
// silently replaced.
func Build(p *Payload) ([]byte, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if p.Mail != nil && p.Mail.External == nil {
		buf.Grow(base64.StdEncoding.EncodedLen(len(p.Mail.Raw)) + len(p.Body) + len(p.Subject) + 512)
	}
	e := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Space: NSOpenPGP, Local: "payload"}}
	tokens := []xml.Token{root}
	tokens = appendText(tokens, "subject", p.Subject)
	tokens = appendText(tokens, "body", p.Body)
	tokens = appendText(tokens, "thread", p.Thread)
	if p.Mail != nil {
		tokens = appendMailRaw(tokens, p.Mail)
	}
	tokens = append(tokens, root.End())
	for _, t := range tokens {
		if err := encodeToken(e, &buf, t); err != nil {
			return nil, fmt.Errorf("payload: encode: %w", err)
		}
	}
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("payload: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// base64Text is character data written as base64 of its bytes. Base64 has
// nothing to escape, so it goes straight into the buffer instead of
// through encoding/xml's rune-by-rune escaping (the largest cost of
// building a big payload), with the same bytes as a result.
type base64Text []byte

func encodeToken(e *xml.Encoder, buf *bytes.Buffer, t xml.Token) error {
	raw, ok := t.(base64Text)
	if !ok {
		return e.EncodeToken(t)
	}
	if err := e.Flush(); err != nil { // the start tag is complete in buf
		return err
	}
	w := base64.NewEncoder(base64.StdEncoding, buf)
	if _, err := w.Write(raw); err != nil {
		return err
	}
	return w.Close()
}

// appendText adds <local xmlns='jabber:client'>s</local> unless s is empty.
func appendText(ts []xml.Token, local, s string) []xml.Token {
	if s == "" {
		return ts
	}
	start := xml.StartElement{Name: xml.Name{Space: NSClient, Local: local}}
	return append(ts, start, xml.CharData(s), start.End())
}

// appendMailRaw is appendMail with the message as base64Text, for Build.
func appendMailRaw(ts []xml.Token, m *Mail) []xml.Token {
	ts = appendMail(ts, m)
	if m.External == nil {
		ts[len(ts)-2] = base64Text(m.Raw)
	}
	return ts
}

func appendMail(ts []xml.Token, m *Mail) []xml.Token {
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "mail"}}
	start.Attr = appendAttr(start.Attr, "message-id", m.MessageID)
	start.Attr = appendAttr(start.Attr, "in-reply-to", m.InReplyTo)
	if m.External != nil {
		return append(ts, start, externalStart(m.External), externalStart(m.External).End(), start.End())
	}
	sum := sha256.Sum256(m.Raw)
	start.Attr = appendAttr(start.Attr, "encoding", "base64")
	start.Attr = appendAttr(start.Attr, "size", strconv.Itoa(len(m.Raw)))
	start.Attr = appendAttr(start.Attr, "sha256", hex.EncodeToString(sum[:]))
	data := base64.StdEncoding.EncodeToString(m.Raw)
	return append(ts, start, xml.CharData(data), start.End())
}

func externalStart(x *External) xml.StartElement {
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "external"}}
	start.Attr = appendAttr(start.Attr, "url", x.URL)
	start.Attr = appendAttr(start.Attr, "size", strconv.FormatInt(x.Size, 10))
	start.Attr = appendAttr(start.Attr, "sha256", hex.EncodeToString(x.SHA256[:]))
	start.Attr = appendAttr(start.Attr, "key", base64.StdEncoding.EncodeToString(x.Key[:]))
	start.Attr = appendAttr(start.Attr, "iv", base64.StdEncoding.EncodeToString(x.IV[:]))
	return start
}

func appendAttr(as []xml.Attr, name, value string) []xml.Attr {
	if value == "" {
		return as
	}
	return append(as, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

// validate refuses what Build would otherwise alter or what Parse would
// refuse.
func validate(p *Payload) error {
	for _, f := range []struct{ name, s string }{
		{"subject", p.Subject}, {"body", p.Body}, {"thread", p.Thread},
	} {
		if err := checkXMLText(f.s); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMalformed, f.name, err)
		}
	}
	if p.Mail == nil {
		return nil
	}
	return validateMail(p.Mail)
}

func validateMail(m *Mail) error {
	for _, s := range []string{m.MessageID, m.InReplyTo} {
		if err := checkXMLText(s); err != nil {
			return fmt.Errorf("%w: mail: %w", ErrMalformed, err)
		}
	}
	switch {
	case m.External != nil && len(m.Raw) > 0:
		return fmt.Errorf("%w: mail: both raw and external", ErrMalformed)
	case m.External != nil:
		return checkExternal(m.External)
	case len(m.Raw) == 0:
		return fmt.Errorf("%w: mail: empty", ErrMalformed)
	}
	return nil
}

// checkXMLText accepts valid UTF-8 made of XML 1.0 Chars (§2.2).
func checkXMLText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for i, r := range s {
		if !isXMLChar(r) {
			return fmt.Errorf("character %U at byte %d not allowed in XML", r, i)
		}
	}
	return nil
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}
