package omemo

import (
	"bytes"
	"encoding/xml"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2' prekey='true'>AA==</key><iv>AAECAwQFBgcICQoL</iv></header><payload>aGk=</payload></encrypted>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzDecodeBundleAndDeviceList(f *testing.F) {
	f.Add([]byte(`<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>BQ==</signedPreKeyPublic><signedPreKeySignature>AA==</signedPreKeySignature><identityKey>BQ==</identityKey><prekeys><preKeyPublic preKeyId='1'>BQ==</preKeyPublic></prekeys></bundle>`))
	f.Add([]byte(`<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/><device id='x'/><device id='2147483648'/></list>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, dec := range []func(*xml.Decoder, *xml.StartElement) error{
			func(d *xml.Decoder, s *xml.StartElement) error {
				b, err := DecodeBundle(d, s)
				if err == nil && (len(b.IdentityKey) != 33 || len(b.SignedPreKeySig) != 64 || len(b.PreKeys) == 0) {
					t.Fatalf("accepted a bad bundle: %+v", b)
				}
				return err
			},
			func(d *xml.Decoder, s *xml.StartElement) error {
				ids, err := DecodeDeviceList(d, s)
				for _, id := range ids {
					if id == 0 || id > maxDeviceID {
						t.Fatalf("device id %d", id)
					}
				}
				if len(ids) > maxDevices {
					t.Fatalf("%d devices", len(ids))
				}
				return err
			},
		} {
			d := xml.NewDecoder(bytes.NewReader(data))
			tok, err := d.Token()
			if err != nil {
				continue
			}
			if s, ok := tok.(xml.StartElement); ok {
				_ = dec(d, &s)
			}
		}
	})
}
