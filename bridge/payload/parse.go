package payload

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Parse reads a <payload xmlns='urn:xmpp:openpgp:0'/> element within lim,
// verifying the size and SHA-256 of an inline mail. Unknown elements are
// skipped; a <mail/> in an unknown encoding gives ErrUnsupported.
func Parse(b []byte, lim Limits) (*Payload, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	r := &reader{d: xml.NewDecoder(bytes.NewReader(b)), lim: lim}
	root, err := r.next()
	if err != nil {
		return nil, err
	}
	start, ok := root.(xml.StartElement)
	if !ok || start.Name != (xml.Name{Space: NSOpenPGP, Local: "payload"}) {
		return nil, fmt.Errorf("%w: root is not <payload xmlns='%s'>", ErrMalformed, NSOpenPGP)
	}
	p, err := r.payload()
	if err != nil {
		return nil, err
	}
	return p, r.end()
}

// reader walks the tokens of one payload.
type reader struct {
	d   *xml.Decoder
	lim Limits
}

// next returns the next token that matters: comments, processing
// instructions and white space between elements are dropped, DTDs refused.
func (r *reader) next() (xml.Token, error) {
	for {
		t, err := r.d.Token()
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

// payload reads the children of <payload/> up to its end tag.
func (r *reader) payload() (*Payload, error) {
	p := &Payload{}
	for {
		t, err := r.next()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.EndElement:
			return p, nil
		case xml.CharData:
			return nil, fmt.Errorf("%w: text in <payload>", ErrMalformed)
		case xml.StartElement:
			if err := r.child(p, t); err != nil {
				return nil, err
			}
		}
	}
}

// child reads one child of <payload/>. The first <subject/>, <body/> or
// <thread/> wins (later ones may be xml:lang variants); a second <mail/>
// is an error.
func (r *reader) child(p *Payload, start xml.StartElement) error {
	switch start.Name {
	case xml.Name{Space: NSClient, Local: "subject"}:
		return r.textOnce(&p.Subject, start)
	case xml.Name{Space: NSClient, Local: "body"}:
		return r.textOnce(&p.Body, start)
	case xml.Name{Space: NSClient, Local: "thread"}:
		return r.textOnce(&p.Thread, start)
	case xml.Name{Space: NS, Local: "mail"}:
		if p.Mail != nil {
			return fmt.Errorf("%w: second <mail>", ErrMalformed)
		}
		m, err := r.mail(start)
		p.Mail = m
		return err
	}
	return r.skip(1)
}

func (r *reader) textOnce(dst *string, start xml.StartElement) error {
	s, err := r.text(start, r.lim.MaxTextBytes)
	if err == nil && *dst == "" {
		*dst = s
	}
	return err
}

// text reads the character data of a leaf element, up to max bytes.
func (r *reader) text(start xml.StartElement, max int) (string, error) {
	var buf []byte
	for {
		t, err := r.d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: <%s>: %w", ErrMalformed, start.Name.Local, err)
		}
		switch t := t.(type) {
		case xml.CharData:
			if len(buf)+len(t) > max {
				return "", fmt.Errorf("%w: <%s> over %d bytes", ErrTooLarge, start.Name.Local, max)
			}
			buf = append(buf, t...)
		case xml.StartElement:
			return "", fmt.Errorf("%w: element in <%s>", ErrMalformed, start.Name.Local)
		case xml.EndElement:
			return string(buf), nil
		}
	}
}

// skip consumes an unknown element whose start tag was read at depth.
func (r *reader) skip(depth int) error {
	for open := 1; open > 0; {
		t, err := r.next()
		if err != nil {
			return err
		}
		switch t.(type) {
		case xml.StartElement:
			open++
			if depth+open > r.lim.MaxDepth {
				return fmt.Errorf("%w: nesting over %d", ErrTooLarge, r.lim.MaxDepth)
			}
		case xml.EndElement:
			open--
		}
	}
	return nil
}

// end checks that nothing but white space and comments follows the root.
func (r *reader) end() error {
	for {
		t, err := r.d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: after </payload>: %w", ErrMalformed, err)
		}
		switch t := t.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text after </payload>", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: content after </payload>", ErrMalformed)
		}
	}
}
