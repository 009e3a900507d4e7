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
	"io"
	"strings"
	"time"

	"passerelle/bridge/peermsg"
)

// NS is the namespace of the relay extension.
const NS = "urn:passerelle:relay:0"

// ErrMalformed is returned for a hello that does not parse.
var ErrMalformed = errors.New("relaymsg: malformed hello")

var nameHello = xml.Name{Space: NS, Local: "hello"}

// HelloName is the name of the <hello/> element (for a Mux registration).
func HelloName() xml.Name { return nameHello }

// Hello is a parsed <hello/>.
type Hello struct {
	Key  []byte    // binary transferable public key
	Time time.Time // when the client signed it; zero in the hub's answer
	Sig  []byte    // detached OpenPGP signature of HelloSignedText; nil in the hub's answer
}

// HelloSignedText is what a client signs in its hello: the hub's JID, the
// full JID of the session saying hello and the time, so that only the
// holder of the client's key can make a session the hub's push target
// (the account password alone cannot), and a hello cannot be replayed for
// another session or much later.
func HelloSignedText(hub, session string, t time.Time) []byte {
	return []byte("passerelle-relay-hello\x00" + hub + "\x00" + session + "\x00" + t.UTC().Format(time.RFC3339))
}

// Tokens returns the <hello/> element: the key as peermsg's <key/>, and
// for a client's hello the time attribute and the <sig/>.
func (h Hello) Tokens(fingerprint string) []xml.Token {
	s := xml.StartElement{Name: nameHello}
	if !h.Time.IsZero() {
		s.Attr = []xml.Attr{{Name: xml.Name{Local: "time"}, Value: h.Time.UTC().Format(time.RFC3339)}}
	}
	toks := append([]xml.Token{s}, peermsg.KeyTokens(fingerprint, h.Key)...)
	if len(h.Sig) > 0 {
		sig := xml.StartElement{Name: nameSig}
		toks = append(toks, sig, xml.CharData(base64.StdEncoding.EncodeToString(h.Sig)), sig.End())
	}
	return append(toks, s.End())
}

// MaxKeyBytes bounds the key a hello may carry.
const MaxKeyBytes = 64 << 10

// ParseHello reads a <hello/> element from r; the caller parses the key,
// compares its fingerprint with the one pinned in its configuration (the
// fingerprint attribute is a hint only) and, at the hub, checks Sig.
func ParseHello(r xml.TokenReader) (*Hello, error) {
	var start xml.StartElement
	for {
		t, err := r.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if s, ok := t.(xml.StartElement); ok {
			if s.Name != nameHello {
				return nil, fmt.Errorf("%w: <%s xmlns='%s'>", ErrMalformed, s.Name.Local, s.Name.Space)
			}
			start = s
			break
		}
	}
	h := &Hello{}
	for _, a := range start.Attr {
		if a.Name.Local == "time" && a.Name.Space == "" {
			t, err := time.Parse(time.RFC3339, a.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: time %q", ErrMalformed, a.Value)
			}
			h.Time = t
		}
	}
	var toks []xml.Token
	for depth := 1; depth > 0; {
		t, err := r.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		if depth > 0 {
			if len(toks) > 64 {
				return nil, fmt.Errorf("%w: too many elements", ErrMalformed)
			}
			toks = append(toks, xml.CopyToken(t))
		}
	}
	_, pub, err := peermsg.ParseKey(&tokenList{toks}, MaxKeyBytes*4/3+4)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	h.Key = pub
	if sig, err := FindSig(toks); err == nil {
		h.Sig = sig
	}
	return h, nil
}

type tokenList struct{ t []xml.Token }

func (l *tokenList) Token() (xml.Token, error) {
	if len(l.t) == 0 {
		return nil, io.EOF
	}
	t := l.t[0]
	l.t = l.t[1:]
	return t, nil
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
			return nil, fmt.Errorf("%w: signature", ErrMalformed)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("%w: ack without signature", ErrMalformed)
}
