package omemo

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OMEMO 0.3 names.
const (
	NS             = "eu.siacs.conversations.axolotl"
	NodeDeviceList = NS + ".devicelist"
	nodeBundles    = NS + ".bundles:"
)

// BundleNode is the PEP node of device id's bundle.
func BundleNode(id uint32) string { return nodeBundles + strconv.FormatUint(uint64(id), 10) }

// BundleNodeID returns the device id of a bundle node name.
func BundleNodeID(node string) (uint32, bool) {
	s, ok := strings.CutPrefix(node, nodeBundles)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil || id == 0 || id > maxDeviceID {
		return 0, false
	}
	return uint32(id), true
}

// Sizes of the payload encryption (XEP-0384 v0.3 §4.5, as deployed).
const (
	keySize = 16
	ivSize  = 12
	tagSize = 16
	// maxDeviceID: device ids are 31-bit positive integers.
	maxDeviceID = 1<<31 - 1
	// Parse limits.
	maxKeys      = 64
	maxKeyBytes  = 4096
	maxPayload   = 512 << 10
	maxXMLParsed = 1 << 20
)

// Errors.
var (
	ErrMalformed      = errors.New("omemo: malformed element")
	ErrNotForUs       = errors.New("omemo: not encrypted for this device")
	ErrDecrypt        = errors.New("omemo: decryption failed")
	ErrNoDevices      = errors.New("omemo: recipient has no usable device")
	ErrUntrustedKey   = errors.New("omemo: identity key changed")
	ErrKeyTransport   = errors.New("omemo: key transport message without payload")
	ErrBundleNotFound = errors.New("omemo: bundle not published")
)

// Key is one <key/>: the payload key, Signal-encrypted for device RID.
type Key struct {
	RID    uint32
	PreKey bool // a PreKeySignalMessage (session establishment)
	Data   []byte
}

// Encrypted is an <encrypted xmlns='eu.siacs.conversations.axolotl'/>.
type Encrypted struct {
	SID     uint32 // the sending device
	Keys    []Key
	IV      []byte
	Payload []byte // ciphertext without the tag; nil: key transport
}

type xmlEncrypted struct {
	XMLName xml.Name `xml:"eu.siacs.conversations.axolotl encrypted"`
	Header  struct {
		SID  string `xml:"sid,attr"`
		Keys []struct {
			RID    string `xml:"rid,attr"`
			PreKey string `xml:"prekey,attr"`
			Data   string `xml:",chardata"`
		} `xml:"key"`
		IV string `xml:"iv"`
	} `xml:"header"`
	Payload *string `xml:"payload"`
}

// Tokens is e as XML tokens, for a stanza's children.
func (e *Encrypted) Tokens() []xml.Token {
	enc := xml.StartElement{Name: xml.Name{Space: NS, Local: "encrypted"}}
	hdr := xml.StartElement{Name: xml.Name{Local: "header"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "sid"}, Value: strconv.FormatUint(uint64(e.SID), 10)}}}
	toks := []xml.Token{enc, hdr}
	for _, k := range e.Keys {
		ks := xml.StartElement{Name: xml.Name{Local: "key"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "rid"}, Value: strconv.FormatUint(uint64(k.RID), 10)}}}
		if k.PreKey {
			ks.Attr = append(ks.Attr, xml.Attr{Name: xml.Name{Local: "prekey"}, Value: "true"})
		}
		toks = append(toks, ks, xml.CharData(base64.StdEncoding.EncodeToString(k.Data)), ks.End())
	}
	iv := xml.StartElement{Name: xml.Name{Local: "iv"}}
	toks = append(toks, iv, xml.CharData(base64.StdEncoding.EncodeToString(e.IV)), iv.End(), hdr.End())
	if e.Payload != nil {
		p := xml.StartElement{Name: xml.Name{Local: "payload"}}
		toks = append(toks, p, xml.CharData(base64.StdEncoding.EncodeToString(e.Payload)), p.End())
	}
	return append(toks, enc.End())
}

// Marshal is e as XML.
func (e *Encrypted) Marshal() ([]byte, error) {
	var b strings.Builder
	enc := xml.NewEncoder(&b)
	for _, t := range e.Tokens() {
		if err := enc.EncodeToken(t); err != nil {
			return nil, err
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// Parse reads an <encrypted/> element, with limits.
func Parse(data []byte) (*Encrypted, error) {
	if len(data) > maxXMLParsed {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	var x xmlEncrypted
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return fromXML(&x)
}

// Decode reads an <encrypted/> element from d (start is its start token).
func Decode(d *xml.Decoder, start *xml.StartElement) (*Encrypted, error) {
	var x xmlEncrypted
	if err := d.DecodeElement(&x, start); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return fromXML(&x)
}

func fromXML(x *xmlEncrypted) (*Encrypted, error) {
	sid, err := parseDeviceID(x.Header.SID)
	if err != nil {
		return nil, fmt.Errorf("%w: sid: %w", ErrMalformed, err)
	}
	if len(x.Header.Keys) == 0 || len(x.Header.Keys) > maxKeys {
		return nil, fmt.Errorf("%w: %d keys", ErrMalformed, len(x.Header.Keys))
	}
	e := &Encrypted{SID: sid}
	for _, k := range x.Header.Keys {
		rid, err := parseDeviceID(k.RID)
		if err != nil {
			return nil, fmt.Errorf("%w: rid: %w", ErrMalformed, err)
		}
		data, err := b64(k.Data, maxKeyBytes)
		if err != nil {
			return nil, fmt.Errorf("%w: key: %w", ErrMalformed, err)
		}
		e.Keys = append(e.Keys, Key{RID: rid, PreKey: k.PreKey == "true" || k.PreKey == "1", Data: data})
	}
	if e.IV, err = b64(x.Header.IV, 64); err != nil || len(e.IV) != ivSize {
		return nil, fmt.Errorf("%w: iv", ErrMalformed)
	}
	if x.Payload != nil {
		if e.Payload, err = b64(*x.Payload, maxPayload); err != nil {
			return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
		}
		if e.Payload == nil {
			e.Payload = []byte{}
		}
	}
	return e, nil
}

func parseDeviceID(s string) (uint32, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, err
	}
	if id == 0 || id > maxDeviceID {
		return 0, fmt.Errorf("device id %d out of range", id)
	}
	return uint32(id), nil
}

// b64 decodes standard base64 (whitespace ignored, padding optional) of at
// most max decoded bytes.
func b64(s string, max int) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if base64.StdEncoding.DecodedLen(len(s)) > max+3 {
		return nil, fmt.Errorf("over %d bytes", max)
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("over %d bytes", max)
	}
	return b, nil
}

// sealPayload encrypts body with AES-128-GCM under a fresh key and IV. It
// returns key||tag (what each device's session carries), the IV and the
// ciphertext without the tag.
func sealPayload(body []byte) (keyTag, iv, ct []byte, err error) {
	key := make([]byte, keySize)
	iv = make([]byte, ivSize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, nil, nil, err
	}
	g, err := gcm(key)
	if err != nil {
		return nil, nil, nil, err
	}
	sealed := g.Seal(nil, iv, body, nil)
	ct, tag := sealed[:len(sealed)-tagSize], sealed[len(sealed)-tagSize:]
	return append(key, tag...), iv, ct, nil
}

// openPayload reverses sealPayload. keyTag is the 16-byte key followed by
// the tag (a bare 16-byte key, from senders predating the tag-in-key rule,
// is refused: its payload is unauthenticated).
func openPayload(keyTag, iv, ct []byte) ([]byte, error) {
	if len(keyTag) < keySize+tagSize || len(iv) != ivSize {
		return nil, fmt.Errorf("%w: key material of %d bytes", ErrDecrypt, len(keyTag))
	}
	g, err := gcm(keyTag[:keySize])
	if err != nil {
		return nil, err
	}
	sealed := append(append([]byte{}, ct...), keyTag[keySize:keySize+tagSize]...)
	body, err := g.Open(nil, iv, sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return body, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b) // 12-byte nonce, 16-byte tag
}
