package relaymsg

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func encode(t testing.TB, toks []xml.Token) string {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	for _, tok := range toks {
		if err := enc.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHelloRoundTrip(t *testing.T) {
	s := encode(t, Hello("ABCD", []byte{1, 2, 3}))
	pub, err := ParseHello(xml.NewDecoder(strings.NewReader(s)))
	if err != nil || !bytes.Equal(pub, []byte{1, 2, 3}) {
		t.Fatalf("ParseHello(%s) = %v, %v", s, pub, err)
	}
}

func TestParseHelloErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"wrong element", `<hello xmlns="urn:other"/>`},
		{"no key", `<hello xmlns="urn:passerelle:relay:0"></hello>`},
		{"key in the wrong namespace", `<hello xmlns="urn:passerelle:relay:0"><key>AQID</key></hello>`},
		{"bad base64", `<hello xmlns="urn:passerelle:relay:0"><key xmlns="urn:passerelle:peer:0">!</key></hello>`},
		{"empty", ``},
		{"key too large", `<hello xmlns="urn:passerelle:relay:0"><key xmlns="urn:passerelle:peer:0">` + strings.Repeat("QUFB", MaxKeyBytes) + `</key></hello>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseHello(xml.NewDecoder(strings.NewReader(tc.in))); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseHello: %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzParseHello: a hello comes from any account that can reach the hub.
func FuzzParseHello(f *testing.F) {
	f.Add(`<hello xmlns="urn:passerelle:relay:0"><key xmlns="urn:passerelle:peer:0" fingerprint="AB">AQID</key></hello>`)
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParseHello(xml.NewDecoder(strings.NewReader(s)))
		if err == nil && len(pub) == 0 {
			t.Fatal("accepted an empty key")
		}
	})
}
