// Package relaymsg is the one element relay mode adds to the peer route's
// wire format (bridge/peermsg, docs/urn-passerelle-peer-0.md): the
// <hello xmlns='urn:passerelle:relay:0'/> IQ with which a relay client,
// logged in to the hub's XMPP server as an ordinary account, announces
// itself and its gateway key, and learns the hub's. Mail then travels in
// peermsg transfers both ways (docs/urn-passerelle-relay-0.md).
package relaymsg

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"passerelle/bridge/peermsg"
)

// NS is the namespace of the relay extension.
const NS = "urn:passerelle:relay:0"

// ErrMalformed is returned for a hello that does not parse.
var ErrMalformed = errors.New("relaymsg: malformed hello")

var nameHello = xml.Name{Space: NS, Local: "hello"}

// HelloName is the name of the <hello/> element (for a Mux registration).
func HelloName() xml.Name { return nameHello }

// Hello is the <hello/> element carrying a gateway's public key (RFC 9580
// transferable public key, binary) as peermsg's <key/>: the request
// carries the client's, the result the hub's.
func Hello(fingerprint string, pub []byte) []xml.Token {
	s := xml.StartElement{Name: nameHello}
	return append(append([]xml.Token{s}, peermsg.KeyTokens(fingerprint, pub)...), s.End())
}

// MaxKeyBytes bounds the key a hello may carry.
const MaxKeyBytes = 64 << 10

// ParseHello reads a <hello/> element from r and returns the key it
// carries; the caller parses the key and compares its fingerprint with
// the one pinned in its configuration (the fingerprint attribute is a
// hint only).
func ParseHello(r xml.TokenReader) ([]byte, error) {
	for {
		t, err := r.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if s, ok := t.(xml.StartElement); ok {
			if s.Name != nameHello {
				return nil, fmt.Errorf("%w: <%s xmlns='%s'>", ErrMalformed, s.Name.Local, s.Name.Space)
			}
			break
		}
	}
	_, pub, err := peermsg.ParseKey(r, MaxKeyBytes*4/3+4)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return pub, nil
}

var nameSig = xml.Name{Space: NS, Local: "sig"}

// AckSignedText is what a relay client signs in an ack: the hub's JID,
// the transfer id and every recipient's result, so that only the holder
// of the client's key can tell the hub that a mail is stored (the account
// password alone cannot make the hub drop mail).
func AckSignedText(hub string, a *peermsg.Ack) []byte {
	var b []byte
	b = append(b, "passerelle-relay-ack\x00"+hub+"\x00"+a.ID...)
	for _, r := range a.Results {
		b = append(b, "\x00"+r.Addr+"\x00"+r.Status...)
	}
	return b
}

// WithSig returns the ack element toks (start to end) with a
// <sig xmlns='urn:passerelle:relay:0'/> child holding sig (an OpenPGP
// detached signature, binary) before its end; receivers that do not know
// it ignore it (peermsg.ParseAck skips unknown children).
func WithSig(toks []xml.Token, sig []byte) []xml.Token {
	s := xml.StartElement{Name: nameSig}
	out := append([]xml.Token{}, toks[:len(toks)-1]...)
	out = append(out, s, xml.CharData(base64.StdEncoding.EncodeToString(sig)), s.End())
	return append(out, toks[len(toks)-1])
}

// FindSig returns the signature of the first <sig/> among toks.
func FindSig(toks []xml.Token) ([]byte, error) {
	for i, t := range toks {
		s, ok := t.(xml.StartElement)
		if !ok || s.Name != nameSig {
			continue
		}
		var txt []byte
		for _, t := range toks[i+1:] {
			cd, ok := t.(xml.CharData)
			if !ok {
				break
			}
			txt = append(txt, cd...)
		}
		sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(txt)))
		if err != nil || len(sig) == 0 {
			return nil, fmt.Errorf("%w: ack signature", ErrMalformed)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("%w: ack without signature", ErrMalformed)
}
