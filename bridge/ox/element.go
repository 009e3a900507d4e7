package ox

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Element returns the tokens of <openpgp xmlns='urn:xmpp:openpgp:0'>
// holding the base64 of ciphertext (XEP-0373 §3.1).
func Element(ciphertext []byte) xml.TokenReader {
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "openpgp"}}
	return &tokens{toks: []xml.Token{
		start,
		xml.CharData(base64.StdEncoding.EncodeToString(ciphertext)),
		start.End(),
	}}
}

// ElementString returns the <openpgp/> element as a string.
func ElementString(ciphertext []byte) string {
	return "<openpgp xmlns='" + NS + "'>" + base64.StdEncoding.EncodeToString(ciphertext) + "</openpgp>"
}

// DecodeElement decodes the character data of an <openpgp/> element into
// the raw OpenPGP message, refusing more than maxSize bytes of text
// (0: DefaultMaxSize). Whitespace is ignored.
func DecodeElement(text []byte, maxSize int) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(text) > maxSize {
		return nil, fmt.Errorf("%w: openpgp element of %d bytes", ErrTooLarge, len(text))
	}
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, string(text))
	ct, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOpenPGPElt, err)
	}
	return ct, nil
}

// tokens is an xml.TokenReader over a fixed slice.
type tokens struct {
	toks []xml.Token
}

func (t *tokens) Token() (xml.Token, error) {
	if len(t.toks) == 0 {
		return nil, io.EOF
	}
	tok := t.toks[0]
	t.toks = t.toks[1:]
	return tok, nil
}
