package payload

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// XEP-0373 puts the payload's children inside <signcrypt>'s own <payload>
// element, which bridge/ox writes and strips; these two helpers convert
// between that inner XML and a Payload.

var (
	payloadOpen  = []byte("<payload xmlns=\"" + NSOpenPGP + "\">")
	payloadClose = []byte("</payload>")
)

// BuildInner returns the children of <payload> for p, each with its own
// namespace declaration, for ox.SealConfig.Payload.
func BuildInner(p *Payload) ([]byte, error) {
	b, err := Build(p)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, payloadOpen) || !bytes.HasSuffix(b, payloadClose) {
		return nil, fmt.Errorf("payload: unexpected encoding of the root element")
	}
	return b[len(payloadOpen) : len(b)-len(payloadClose)], nil
}

// ParseInner parses the children of a <payload> element, as ox.Open
// returns them.
func ParseInner(inner []byte, lim Limits) (*Payload, error) {
	b := make([]byte, 0, len(payloadOpen)+len(inner)+len(payloadClose))
	b = append(append(append(b, payloadOpen...), inner...), payloadClose...)
	return Parse(b, lim)
}

// MailTokens returns the <mail xmlns='urn:passerelle:mail:0'/> element
// alone, for a plaintext stanza (policy allowed no encryption).
func MailTokens(m *Mail) ([]xml.Token, error) {
	if err := validateMail(m); err != nil {
		return nil, err
	}
	return appendMail(nil, m), nil
}
