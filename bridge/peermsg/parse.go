package peermsg

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"passerelle/bridge/payload"
)

// ParseEnvelope reads an <envelope/> element (the payload of an opened
// transfer) within lim and validates it. Unknown attributes and child
// elements are ignored (forward compatibility); a second <mail/>, a
// <mail/> that fails its size or SHA-256 check, or an envelope that fails
// Validate is an error.
func ParseEnvelope(b []byte, lim Limits) (*Envelope, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: envelope of %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	p := &parser{d: xml.NewDecoder(bytes.NewReader(b)), raw: b, lim: lim}
	p.d.Strict = true
	root, err := p.rootStart(xml.Name{Space: NS, Local: "envelope"})
	if err != nil {
		return nil, err
	}
	e := &Envelope{ID: attr(root, "id"), SenderDomain: attr(root, "sender-domain"),
		MailFrom: attr(root, "mail-from"), EnvID: attr(root, "envid")}
	if !hasAttr(root, "mail-from") {
		return nil, fmt.Errorf("%w: <envelope> without mail-from", ErrMalformed)
	}
	if err := p.children(e); err != nil {
		return nil, err
	}
	if err := p.trailer(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

type parser struct {
	d   *xml.Decoder
	raw []byte
	lim Limits
}

// token returns the next token that matters: comments, processing
// instructions and white space are dropped, DTDs refused.
func (p *parser) token() (xml.Token, error) {
	for {
		t, err := p.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: unexpected end", ErrMalformed)
			}
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := t.(type) {
		case xml.Directive:
			return nil, fmt.Errorf("%w: directive not allowed", ErrMalformed)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return t, nil
			}
		case xml.StartElement, xml.EndElement:
			return t, nil
		}
	}
}

func (p *parser) rootStart(want xml.Name) (xml.StartElement, error) {
	t, err := p.token()
	if err != nil {
		return xml.StartElement{}, err
	}
	s, ok := t.(xml.StartElement)
	if !ok || s.Name != want {
		return xml.StartElement{}, fmt.Errorf("%w: root is not <%s xmlns='%s'>", ErrMalformed, want.Local, want.Space)
	}
	return s, nil
}

func (p *parser) children(e *Envelope) error {
	for {
		off := p.d.InputOffset()
		t, err := p.token()
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.EndElement:
			return nil
		case xml.CharData:
			return fmt.Errorf("%w: text in <envelope>", ErrMalformed)
		case xml.StartElement:
			if err := p.child(e, t, off); err != nil {
				return err
			}
		}
	}
}

func (p *parser) child(e *Envelope, s xml.StartElement, off int64) error {
	switch s.Name {
	case xml.Name{Space: NS, Local: "rcpt"}:
		if len(e.Rcpts) >= p.lim.MaxRcpts {
			return fmt.Errorf("%w: more than %d recipients", ErrTooLarge, p.lim.MaxRcpts)
		}
		r := Rcpt{Addr: attr(s, "to"), ORCPT: attr(s, "orcpt")}
		if n := attr(s, "notify"); n != "" {
			r.Notify = strings.Split(n, ",")
		}
		e.Rcpts = append(e.Rcpts, r)
		return p.skip()
	case xml.Name{Space: NS, Local: "sealed"}:
		data, err := p.base64Text()
		if err != nil {
			return fmt.Errorf("<sealed>: %w", err)
		}
		e.Sealed = append(e.Sealed, Sealed{Rcpt: attr(s, "rcpt"), Data: data})
		return nil
	case xml.Name{Space: payload.NS, Local: "mail"}:
		if e.Mail != nil {
			return fmt.Errorf("%w: second <mail>", ErrMalformed)
		}
		if err := p.skip(); err != nil {
			return err
		}
		m, err := parseMail(p.raw[off:p.d.InputOffset()], p.lim)
		if err != nil {
			return err
		}
		e.Mail = m
		return nil
	}
	return p.skip()
}

// parseMail reads the urn:passerelle:mail:0 <mail/> element with
// bridge/payload, which checks its size and SHA-256. The element must
// declare its own namespace (it does when a Passerelle writes it).
func parseMail(raw []byte, lim Limits) (*payload.Mail, error) {
	pl, err := payload.ParseInner(raw, payload.Limits{MaxBytes: lim.MaxBytes + 128, MaxMailBytes: lim.MaxMailBytes})
	if err != nil {
		return nil, fmt.Errorf("peermsg: <mail>: %w", err)
	}
	if pl.Mail == nil {
		return nil, fmt.Errorf("%w: <mail> does not declare its namespace", ErrMalformed)
	}
	return pl.Mail, nil
}

// skip consumes the rest of the element whose start was just read.
func (p *parser) skip() error {
	if err := p.d.Skip(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// base64Text reads the text of the current element up to its end tag
// (no child elements) and decodes it; white space is ignored.
func (p *parser) base64Text() ([]byte, error) {
	var txt []byte
	for {
		t, err := p.d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			out, err := base64.StdEncoding.DecodeString(string(txt))
			if err != nil {
				return nil, fmt.Errorf("%w: base64: %w", ErrMalformed, err)
			}
			return out, nil
		case xml.CharData:
			for _, c := range t {
				if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
					txt = append(txt, c)
				}
			}
		case xml.StartElement:
			return nil, fmt.Errorf("%w: element inside base64 text", ErrMalformed)
		case xml.Directive:
			return nil, fmt.Errorf("%w: directive not allowed", ErrMalformed)
		}
	}
}

// trailer accepts only white space, comments and processing instructions
// after the root element.
func (p *parser) trailer() error {
	for {
		t, err := p.d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := t.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: content after the root element", ErrMalformed)
			}
		case xml.Comment, xml.ProcInst:
		default:
			return fmt.Errorf("%w: content after the root element", ErrMalformed)
		}
	}
}

func attr(s xml.StartElement, name string) string {
	for _, a := range s.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func hasAttr(s xml.StartElement, name string) bool {
	for _, a := range s.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return true
		}
	}
	return false
}
