package peermsg

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"

	"passerelle/bridge/payload"
)

// Validate checks e as a sender must before sealing it and as a receiver
// does after parsing it.
func (e *Envelope) Validate() error {
	switch {
	case !ValidID(e.ID):
		return fmt.Errorf("%w: id %q", ErrInvalid, e.ID)
	case !validDomain(e.SenderDomain):
		return fmt.Errorf("%w: sender-domain %q", ErrInvalid, e.SenderDomain)
	case e.MailFrom != "" && !validAddr(e.MailFrom):
		return fmt.Errorf("%w: mail-from %q", ErrInvalid, e.MailFrom)
	case e.MailFrom != "" && !strings.EqualFold(Domain(e.MailFrom), e.SenderDomain):
		return fmt.Errorf("%w: mail-from %q is not in sender-domain %q", ErrInvalid, e.MailFrom, e.SenderDomain)
	case len(e.Rcpts) == 0:
		return fmt.Errorf("%w: no recipient", ErrInvalid)
	case !validText(e.EnvID):
		return fmt.Errorf("%w: envid", ErrInvalid)
	}
	seen := make(map[string]bool, len(e.Rcpts))
	for _, r := range e.Rcpts {
		k := strings.ToLower(r.Addr)
		if !validAddr(r.Addr) || seen[k] || !validText(r.ORCPT) || !validNotify(r.Notify) {
			return fmt.Errorf("%w: recipient %q", ErrInvalid, r.Addr)
		}
		seen[k] = true
	}
	sealed := make(map[string]bool, len(e.Sealed))
	for _, s := range e.Sealed {
		k := strings.ToLower(s.Rcpt)
		if !seen[k] || sealed[k] || len(s.Data) == 0 {
			return fmt.Errorf("%w: sealed copy for %q", ErrInvalid, s.Rcpt)
		}
		sealed[k] = true
	}
	if e.Mail == nil && len(sealed) < len(seen) {
		return fmt.Errorf("%w: no <mail/> but not every recipient has a sealed copy", ErrInvalid)
	}
	return nil
}

// validText accepts printable ASCII (ENVID and ORCPT are xtext-decoded
// ASCII, RFC 3461 §4.2 and §4.4).
func validText(s string) bool {
	if len(s) > 500 {
		return false
	}
	for _, c := range []byte(s) {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

func validNotify(ns []string) bool {
	for _, n := range ns {
		switch strings.ToUpper(n) {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return false
		}
	}
	return true
}

// BuildEnvelope returns the <envelope/> element for e, the payload of the
// transfer's signcrypt.
func BuildEnvelope(e *Envelope) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "envelope"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "id"}, Value: e.ID},
		{Name: xml.Name{Local: "sender-domain"}, Value: e.SenderDomain},
		{Name: xml.Name{Local: "mail-from"}, Value: e.MailFrom},
	}}
	if e.EnvID != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "envid"}, Value: e.EnvID})
	}
	toks := []xml.Token{start}
	for _, r := range e.Rcpts {
		toks = append(toks, rcptStart(r), xml.EndElement{Name: xml.Name{Space: NS, Local: "rcpt"}})
	}
	for _, s := range e.Sealed {
		name := xml.Name{Space: NS, Local: "sealed"}
		toks = append(toks, xml.StartElement{Name: name, Attr: []xml.Attr{{Name: xml.Name{Local: "rcpt"}, Value: s.Rcpt}}},
			xml.CharData(base64.StdEncoding.EncodeToString(s.Data)), xml.EndElement{Name: name})
	}
	if e.Mail != nil {
		mt, err := payload.MailTokens(e.Mail)
		if err != nil {
			return nil, fmt.Errorf("peermsg: mail: %w", err)
		}
		toks = append(toks, mt...)
	}
	toks = append(toks, start.End())
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return nil, fmt.Errorf("peermsg: encode envelope: %w", err)
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("peermsg: encode envelope: %w", err)
	}
	return b.Bytes(), nil
}

func rcptStart(r Rcpt) xml.StartElement {
	s := xml.StartElement{Name: xml.Name{Space: NS, Local: "rcpt"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "to"}, Value: r.Addr}}}
	if r.ORCPT != "" {
		s.Attr = append(s.Attr, xml.Attr{Name: xml.Name{Local: "orcpt"}, Value: r.ORCPT})
	}
	if len(r.Notify) > 0 {
		s.Attr = append(s.Attr, xml.Attr{Name: xml.Name{Local: "notify"}, Value: strings.Join(r.Notify, ",")})
	}
	return s
}
