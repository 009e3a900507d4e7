package peermsg

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// NSData is XEP-0004's namespace.
const NSData = "jabber:x:data"

// Info is what a gateway publishes in its disco#info (XEP-0128 extended
// information, FORM_TYPE urn:passerelle:peer:0): the same facts as its
// _passerelle DNS record, so that a DNS edit alone cannot redirect mail.
type Info struct {
	Fingerprint string   // hex fingerprint of the domain key, upper case
	Domains     []string // the mail domains this gateway receives and sends for
}

// FormTokens returns the <x xmlns='jabber:x:data' type='result'/> form.
func (in Info) FormTokens() []xml.Token {
	x := xml.StartElement{Name: xml.Name{Space: NSData, Local: "x"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "result"}}}
	toks := []xml.Token{x}
	toks = appendField(toks, "FORM_TYPE", "hidden", NS)
	toks = appendField(toks, "fingerprint", "text-single", in.Fingerprint)
	toks = appendField(toks, "domains", "list-multi", in.Domains...)
	return append(toks, x.End())
}

func appendField(toks []xml.Token, name, typ string, values ...string) []xml.Token {
	f := xml.StartElement{Name: xml.Name{Space: NSData, Local: "field"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "var"}, Value: name}, {Name: xml.Name{Local: "type"}, Value: typ}}}
	v := xml.StartElement{Name: xml.Name{Space: NSData, Local: "value"}}
	toks = append(toks, f)
	for _, s := range values {
		toks = append(toks, v, xml.CharData(s), v.End())
	}
	return append(toks, f.End())
}

// ParseInfo finds our form among a disco#info result's children (as
// copied from an IQ response: the <query/> element) and reads it.
func ParseInfo(r xml.TokenReader) (*Info, error) {
	var (
		in      Info
		found   bool
		inForm  bool
		field   string
		formTyp string
		fields  = map[string][]string{}
	)
	for {
		t, err := r.Token()
		if err != nil {
			break
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name == xml.Name{Space: NSData, Local: "x"}:
				inForm, formTyp, fields = true, "", map[string][]string{}
			case inForm && t.Name.Local == "field":
				field = attr(t, "var")
			case inForm && t.Name.Local == "value":
				txt, err := elementText(r, 1024, false)
				if err != nil {
					return nil, err
				}
				if field == "FORM_TYPE" {
					formTyp = txt
				}
				fields[field] = append(fields[field], strings.TrimSpace(txt))
			}
		case xml.EndElement:
			if t.Name == (xml.Name{Space: NSData, Local: "x"}) && inForm {
				inForm = false
				if formTyp == NS && !found {
					found = true
					in.Fingerprint = first(fields["fingerprint"])
					in.Domains = fields["domains"]
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no %s form in disco#info", ErrMalformed, NS)
	}
	return &in, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
