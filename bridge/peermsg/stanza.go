package peermsg

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Transfer is the <mail/> child of the IQ set: the transfer id and the raw
// OpenPGP message (see Seal).
type Transfer struct {
	ID   string
	Data []byte
}

var (
	nameMail = xml.Name{Space: NS, Local: "mail"}
	nameAck  = xml.Name{Space: NS, Local: "ack"}
	nameRcpt = xml.Name{Space: NS, Local: "rcpt"}
	nameKey  = xml.Name{Space: NS, Local: "key"}
)

// Tokens returns <mail xmlns='urn:passerelle:peer:0' id='…'>base64</mail>.
func (t Transfer) Tokens() []xml.Token {
	s := xml.StartElement{Name: nameMail, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: t.ID}}}
	return []xml.Token{s, xml.CharData(base64.StdEncoding.EncodeToString(t.Data)), s.End()}
}

// StanzaSize is the size of the transfer's element, to compare with the
// server's stanza limit (the IQ wrapper adds some 200 octets).
func (t Transfer) StanzaSize() int {
	return base64.StdEncoding.EncodedLen(len(t.Data)) + len(t.ID) + 64
}

// ParseTransfer reads a <mail/> element from r (an IQ's payload, starting
// at the element) within maxBytes of base64 text.
func ParseTransfer(r xml.TokenReader, maxBytes int) (*Transfer, error) {
	s, err := startOf(r, nameMail)
	if err != nil {
		return nil, err
	}
	t := &Transfer{ID: attr(s, "id")}
	if !ValidID(t.ID) {
		return nil, fmt.Errorf("%w: transfer id %q", ErrMalformed, t.ID)
	}
	txt, err := elementText(r, maxBytes, true)
	if err != nil {
		return nil, err
	}
	if t.Data, err = base64.StdEncoding.DecodeString(txt); err != nil || len(t.Data) == 0 {
		return nil, fmt.Errorf("%w: transfer base64: %v", ErrMalformed, err)
	}
	return t, nil
}

// Status codes in an Ack (RFC 3463).
const (
	StatusOK = "2.0.0"
)

// RcptResult is the receiver's answer for one recipient: 2.0.0 (stored;
// the receiver is now responsible for delivery or a DSN) or a permanent
// 5.x.x refusal. Temporary trouble fails the whole transfer instead.
type RcptResult struct {
	Addr   string
	Status string // RFC 3463 X.Y.Z
	Text   string // human-readable reason; optional
}

// Permanent reports whether the result is a refusal.
func (r RcptResult) Permanent() bool { return strings.HasPrefix(r.Status, "5.") }

// Ack is the <ack/> child of the IQ result: sent only after the mail is on
// disk, with one result per envelope recipient.
type Ack struct {
	ID      string
	Results []RcptResult
}

// Tokens returns the <ack/> element.
func (a Ack) Tokens() []xml.Token {
	s := xml.StartElement{Name: nameAck, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: a.ID}}}
	toks := []xml.Token{s}
	for _, r := range a.Results {
		rs := xml.StartElement{Name: nameRcpt, Attr: []xml.Attr{
			{Name: xml.Name{Local: "to"}, Value: r.Addr}, {Name: xml.Name{Local: "status"}, Value: r.Status}}}
		toks = append(toks, rs)
		if r.Text != "" {
			toks = append(toks, xml.CharData(r.Text))
		}
		toks = append(toks, rs.End())
	}
	return append(toks, s.End())
}

// Result returns the result for addr (case-insensitive), if the ack has one.
func (a *Ack) Result(addr string) (RcptResult, bool) {
	for _, r := range a.Results {
		if strings.EqualFold(r.Addr, addr) {
			return r, true
		}
	}
	return RcptResult{}, false
}

// ParseAck reads an <ack/> element from r (an IQ result's children).
func ParseAck(r xml.TokenReader, maxRcpts int) (*Ack, error) {
	s, err := startOf(r, nameAck)
	if err != nil {
		return nil, err
	}
	a := &Ack{ID: attr(s, "id")}
	if !ValidID(a.ID) {
		return nil, fmt.Errorf("%w: ack id %q", ErrMalformed, a.ID)
	}
	for {
		t, err := r.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: ack: %w", ErrMalformed, eof(err))
		}
		switch t := t.(type) {
		case xml.EndElement:
			return a, nil
		case xml.StartElement:
			if t.Name != nameRcpt {
				if err := skipElement(r); err != nil {
					return nil, err
				}
				continue
			}
			if len(a.Results) >= maxRcpts {
				return nil, fmt.Errorf("%w: ack with more than %d results", ErrTooLarge, maxRcpts)
			}
			res := RcptResult{Addr: attr(t, "to"), Status: attr(t, "status")}
			if res.Text, err = elementText(r, 1024, false); err != nil {
				return nil, err
			}
			if !validStatus(res.Status) || res.Status[0] == '4' {
				return nil, fmt.Errorf("%w: ack status %q", ErrMalformed, res.Status)
			}
			a.Results = append(a.Results, res)
		}
	}
}

// validStatus accepts an RFC 3463 status code class.subject.detail.
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(s) > 11 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// ErrorText is the <text/> of a refusal: the RFC 3463 status, a space and
// the reason, so that the sender's DSN can carry both.
func ErrorText(status, reason string) string { return status + " " + reason }

// StatusOf returns the RFC 3463 status at the start of an error's text, if
// there is one.
func StatusOf(text string) (string, bool) {
	s, _, _ := strings.Cut(text, " ")
	return s, validStatus(s)
}

// KeyRequest is the <key/> child of an IQ get asking for the domain key.
func KeyRequest() []xml.Token {
	s := xml.StartElement{Name: nameKey}
	return []xml.Token{s, s.End()}
}

// KeyName is the name of the <key/> element (for a Mux registration).
func KeyName() xml.Name { return nameKey }

// MailName is the name of the transfer's <mail/> element.
func MailName() xml.Name { return nameMail }

// KeyTokens is the <key/> answer: the binary OpenPGP public key (RFC 9580
// transferable public key, no secret parts) in base64, and its fingerprint.
func KeyTokens(fingerprint string, pub []byte) []xml.Token {
	s := xml.StartElement{Name: nameKey, Attr: []xml.Attr{{Name: xml.Name{Local: "fingerprint"}, Value: fingerprint}}}
	return []xml.Token{s, xml.CharData(base64.StdEncoding.EncodeToString(pub)), s.End()}
}

// ParseKey reads a <key/> answer; the caller parses the key and compares
// its fingerprint with the record's.
func ParseKey(r xml.TokenReader, maxBytes int) (fingerprint string, pub []byte, err error) {
	s, err := startOf(r, nameKey)
	if err != nil {
		return "", nil, err
	}
	txt, err := elementText(r, maxBytes, true)
	if err != nil {
		return "", nil, err
	}
	if pub, err = base64.StdEncoding.DecodeString(txt); err != nil || len(pub) == 0 {
		return "", nil, fmt.Errorf("%w: key base64: %v", ErrMalformed, err)
	}
	return attr(s, "fingerprint"), pub, nil
}

// startOf reads up to the first start element and checks its name.
func startOf(r xml.TokenReader, want xml.Name) (xml.StartElement, error) {
	for {
		t, err := r.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("%w: want <%s>: %w", ErrMalformed, want.Local, eof(err))
		}
		switch t := t.(type) {
		case xml.StartElement:
			if t.Name != want {
				return xml.StartElement{}, fmt.Errorf("%w: <%s xmlns='%s'>, want <%s xmlns='%s'>",
					ErrMalformed, t.Name.Local, t.Name.Space, want.Local, want.Space)
			}
			return t, nil
		case xml.CharData, xml.Comment, xml.ProcInst:
		default:
			return xml.StartElement{}, fmt.Errorf("%w: unexpected %T", ErrMalformed, t)
		}
	}
}

// elementText collects the text of the current element (no children)
// (without white space if strip), up to max octets.
func elementText(r xml.TokenReader, max int, strip bool) (string, error) {
	var b strings.Builder
	for {
		t, err := r.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrMalformed, eof(err))
		}
		switch t := t.(type) {
		case xml.EndElement:
			return b.String(), nil
		case xml.CharData:
			for _, c := range t {
				if strip && (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
					continue
				}
				if b.Len() >= max {
					return "", fmt.Errorf("%w: text over %d octets", ErrTooLarge, max)
				}
				b.WriteByte(c)
			}
		case xml.StartElement:
			return "", fmt.Errorf("%w: unexpected <%s>", ErrMalformed, t.Name.Local)
		}
	}
}

func skipElement(r xml.TokenReader) error {
	for depth := 1; depth > 0; {
		t, err := r.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, eof(err))
		}
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
