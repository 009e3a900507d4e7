package relaymsg

import (
	"bytes"
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
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
	for _, in := range []Hello{
		{Key: []byte{1, 2, 3}}, // the hub's answer
		{Key: []byte{1, 2, 3}, Time: time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC), Sig: []byte{4, 5}},
	} {
		s := encode(t, in.Tokens("ABCD"))
		got, err := ParseHello(xml.NewDecoder(strings.NewReader(s)))
		if err != nil || !reflect.DeepEqual(*got, in) {
			t.Fatalf("ParseHello(%s) = %+v, %v", s, got, err)
		}
	}
	if a, b := HelloSignedText("h", "s1", time.Unix(0, 0)), HelloSignedText("h", "s2", time.Unix(0, 0)); bytes.Equal(a, b) {
		t.Error("the signed text does not bind the session")
	}
}

func TestParseHelloErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"wrong element", `<hello xmlns="urn:other"/>`},
		{"no key", `<hello xmlns="urn:passerelle:relay:0"></hello>`},
		{"key in the wrong namespace", `<hello xmlns="urn:passerelle:relay:0"><key>AQID</key></hello>`},
		{"bad base64", `<hello xmlns="urn:passerelle:relay:0"><key xmlns="urn:passerelle:peer:0">!</key></hello>`},
		{"empty", ``},
		{"bad time", `<hello xmlns="urn:passerelle:relay:0" time="yesterday"><key xmlns="urn:passerelle:peer:0">AQID</key></hello>`},
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
		h, err := ParseHello(xml.NewDecoder(strings.NewReader(s)))
		if err == nil && len(h.Key) == 0 {
			t.Fatal("accepted an empty key")
		}
	})
}
