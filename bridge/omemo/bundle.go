package omemo

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
)

// maxPreKeys bounds the one-time prekeys read from a bundle.
const maxPreKeys = 200

// maxDevices bounds a device list.
const maxDevices = 64

// PreKeyPublic is one published one-time prekey.
type PreKeyPublic struct {
	ID  uint32
	Key []byte // 33 bytes: 0x05 || Curve25519
}

// Bundle is a device's published key material (XEP-0384 v0.3 §4.3).
type Bundle struct {
	SignedPreKeyID  uint32
	SignedPreKey    []byte // 33 bytes
	SignedPreKeySig []byte // 64 bytes, XEdDSA over SignedPreKey
	IdentityKey     []byte // 33 bytes
	PreKeys         []PreKeyPublic
}

type xmlBundle struct {
	XMLName xml.Name `xml:"eu.siacs.conversations.axolotl bundle"`
	SPK     struct {
		ID   string `xml:"signedPreKeyId,attr"`
		Data string `xml:",chardata"`
	} `xml:"signedPreKeyPublic"`
	SPKSig   string `xml:"signedPreKeySignature"`
	Identity string `xml:"identityKey"`
	PreKeys  []struct {
		ID   string `xml:"preKeyId,attr"`
		Data string `xml:",chardata"`
	} `xml:"prekeys>preKeyPublic"`
}

// Tokens is b as a <bundle/> element.
func (b *Bundle) Tokens() []xml.Token {
	el := func(local, data string, attrs ...string) []xml.Token {
		s := xml.StartElement{Name: xml.Name{Local: local}}
		for i := 0; i+1 < len(attrs); i += 2 {
			s.Attr = append(s.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
		}
		return []xml.Token{s, xml.CharData(data), s.End()}
	}
	enc := base64.StdEncoding.EncodeToString
	root := xml.StartElement{Name: xml.Name{Space: NS, Local: "bundle"}}
	toks := []xml.Token{root}
	toks = append(toks, el("signedPreKeyPublic", enc(b.SignedPreKey), "signedPreKeyId", strconv.FormatUint(uint64(b.SignedPreKeyID), 10))...)
	toks = append(toks, el("signedPreKeySignature", enc(b.SignedPreKeySig))...)
	toks = append(toks, el("identityKey", enc(b.IdentityKey))...)
	pk := xml.StartElement{Name: xml.Name{Local: "prekeys"}}
	toks = append(toks, pk)
	for _, p := range b.PreKeys {
		toks = append(toks, el("preKeyPublic", enc(p.Key), "preKeyId", strconv.FormatUint(uint64(p.ID), 10))...)
	}
	return append(toks, pk.End(), root.End())
}

// DecodeBundle reads a <bundle/> element from d (start is its start).
func DecodeBundle(d *xml.Decoder, start *xml.StartElement) (*Bundle, error) {
	var x xmlBundle
	if err := d.DecodeElement(&x, start); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	}
	b := &Bundle{}
	var err error
	id, err := strconv.ParseUint(x.SPK.ID, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: signedPreKeyId: %w", ErrMalformed, err)
	}
	b.SignedPreKeyID = uint32(id)
	if b.SignedPreKey, err = b64(x.SPK.Data, 64); err != nil || len(b.SignedPreKey) != 33 {
		return nil, fmt.Errorf("%w: signedPreKeyPublic", ErrMalformed)
	}
	if b.SignedPreKeySig, err = b64(x.SPKSig, 128); err != nil || len(b.SignedPreKeySig) != 64 {
		return nil, fmt.Errorf("%w: signedPreKeySignature", ErrMalformed)
	}
	if b.IdentityKey, err = b64(x.Identity, 64); err != nil || len(b.IdentityKey) != 33 {
		return nil, fmt.Errorf("%w: identityKey", ErrMalformed)
	}
	if len(x.PreKeys) > maxPreKeys {
		x.PreKeys = x.PreKeys[:maxPreKeys]
	}
	for _, p := range x.PreKeys {
		id, err := strconv.ParseUint(p.ID, 10, 32)
		if err != nil {
			continue
		}
		k, err := b64(p.Data, 64)
		if err != nil || len(k) != 33 {
			continue
		}
		b.PreKeys = append(b.PreKeys, PreKeyPublic{ID: uint32(id), Key: k})
	}
	if len(b.PreKeys) == 0 {
		return nil, fmt.Errorf("%w: bundle without prekeys", ErrMalformed)
	}
	return b, nil
}

// DeviceListTokens is a <list/> of ids (XEP-0384 v0.3 §4.2).
func DeviceListTokens(ids []uint32) []xml.Token {
	root := xml.StartElement{Name: xml.Name{Space: NS, Local: "list"}}
	toks := []xml.Token{root}
	for _, id := range ids {
		d := xml.StartElement{Name: xml.Name{Local: "device"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: strconv.FormatUint(uint64(id), 10)}}}
		toks = append(toks, d, d.End())
	}
	return append(toks, root.End())
}

// DecodeDeviceList reads a <list/> element: the device ids, deduplicated,
// invalid ones skipped, at most maxDevices.
func DecodeDeviceList(d *xml.Decoder, start *xml.StartElement) ([]uint32, error) {
	var x struct {
		Devices []struct {
			ID string `xml:"id,attr"`
		} `xml:"device"`
	}
	if err := d.DecodeElement(&x, start); err != nil {
		return nil, fmt.Errorf("%w: device list: %w", ErrMalformed, err)
	}
	seen := map[uint32]bool{}
	var ids []uint32
	for _, dv := range x.Devices {
		id, err := parseDeviceID(dv.ID)
		if err != nil || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
		if len(ids) == maxDevices {
			break
		}
	}
	return ids, nil
}
