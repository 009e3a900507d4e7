package upload

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Namespaces.
const (
	NS          = "urn:xmpp:http:upload:0" // XEP-0363
	nsStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDiscoItem = "http://jabber.org/protocol/disco#items"
	nsDataForm  = "jabber:x:data"
)

// maxResponse bounds an IQ answer we are willing to parse.
const maxResponse = 64 << 10

var errEmptyResult = errors.New("empty result")

// stanzaErr is a decoded <error/> (RFC 6120 §8.3) with the XEP-0363 §4
// application conditions.
type stanzaErr struct {
	Condition, Type, Text string
	TooLarge              bool
	MaxSize               int64
}

// openResponse accepts what an IQer returns: a whole <iq/> (result or
// error), or only its payload or <error/>. It returns a decoder positioned
// after the payload's start element, or the stanza error.
func openResponse(resp []byte) (*xml.Decoder, xml.StartElement, *stanzaErr, error) {
	if len(resp) > maxResponse {
		return nil, xml.StartElement{}, nil, fmt.Errorf("answer of %d bytes", len(resp))
	}
	d := xml.NewDecoder(bytes.NewReader(resp))
	root, err := nextStart(d)
	if err != nil {
		return nil, root, nil, err
	}
	if root.Name.Local == "iq" {
		if attr(root, "type") == "error" {
			return openErrorChild(d)
		}
		if root, err = nextStart(d); err != nil { // the payload
			return nil, root, nil, err
		}
	}
	if root.Name.Local == "error" {
		se, err := decodeStanzaError(d, root)
		return nil, root, se, err
	}
	return d, root, nil, nil
}

func openErrorChild(d *xml.Decoder) (*xml.Decoder, xml.StartElement, *stanzaErr, error) {
	for {
		start, err := nextStart(d)
		if err != nil {
			return nil, start, nil, fmt.Errorf("error reply without <error/>: %w", err)
		}
		if start.Name.Local == "error" {
			se, err := decodeStanzaError(d, start)
			return nil, start, se, err
		}
		if err := d.Skip(); err != nil {
			return nil, start, nil, err
		}
	}
}

// nextStart returns the next start element at the current depth, or
// errEmptyResult when the enclosing element (or input) ends first.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, errEmptyResult
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errEmptyResult
		}
	}
}

func decodeStanzaError(d *xml.Decoder, start xml.StartElement) (*stanzaErr, error) {
	var x struct {
		Type     string `xml:"type,attr"`
		Text     string `xml:"urn:ietf:params:xml:ns:xmpp-stanzas text"`
		TooLarge []struct {
			Max string `xml:"max-file-size"`
		} `xml:"urn:xmpp:http:upload:0 file-too-large"`
		Any []struct{ XMLName xml.Name } `xml:",any"`
	}
	if err := d.DecodeElement(&x, &start); err != nil {
		return nil, fmt.Errorf("decode error reply: %w", err)
	}
	se := &stanzaErr{Type: x.Type, Text: x.Text, Condition: "undefined-condition"}
	for _, c := range x.Any {
		if c.XMLName.Space == nsStanzas {
			se.Condition = c.XMLName.Local
			break
		}
	}
	if len(x.TooLarge) > 0 {
		se.TooLarge = true
		se.MaxSize, _ = strconv.ParseInt(strings.TrimSpace(x.TooLarge[0].Max), 10, 64)
		se.MaxSize = max(se.MaxSize, 0)
	}
	return se, nil
}

func attr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}
