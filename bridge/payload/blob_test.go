package payload

import (
	"bytes"
	"errors"
	"testing"
)

func TestExternalRoundTrip(t *testing.T) {
	raw := bytes.Repeat(trickyMail, 1000)
	x, blob, err := SealExternal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) != len(raw)+TagSize {
		t.Fatalf("blob of %d bytes, want %d", len(blob), len(raw)+TagSize)
	}
	x.URL = "https://upload.example.org/slot/abc"
	b, err := Build(&Payload{Mail: &Mail{External: x}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Mail.External.Open(blob)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("Open: %v, equal %v", err, bytes.Equal(got, raw))
	}
	got, err = p.Mail.External.OpenInPlace(blob)
	if err != nil || !bytes.Equal(got, raw) || &got[0] != &blob[0] {
		t.Fatalf("OpenInPlace: %v, equal %v, in place %v", err, bytes.Equal(got, raw), &got[0] == &blob[0])
	}
}

func TestExternalOpenRefuses(t *testing.T) {
	raw := []byte("From: a@example.org\r\n\r\nhi\r\n")
	x, blob, err := SealExternal(raw)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(blob)
	flipped[3] ^= 1
	otherKey := *x
	otherKey.Key[0] ^= 1
	wrongSum := *x
	wrongSum.SHA256[0] ^= 1
	tests := []struct {
		name string
		x    *External
		blob []byte
	}{
		{"tampered blob", x, flipped},
		{"truncated blob", x, blob[:len(blob)-1]},
		{"wrong key", &otherKey, blob},
		{"wrong sha256", &wrongSum, blob},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.x.Open(tc.blob); !errors.Is(err, ErrIntegrity) {
				t.Errorf("case %d: got %v, want ErrIntegrity", i, err)
			}
			if _, err := tc.x.OpenInPlace(bytes.Clone(tc.blob)); !errors.Is(err, ErrIntegrity) {
				t.Errorf("case %d: OpenInPlace: got %v, want ErrIntegrity", i, err)
			}
		})
	}
}

// TestSealBlobVector checks the XEP-0454 layout against NIST's GCM test
// case 14 (AES-256, zero key, zero IV, one zero block).
func TestSealBlobVector(t *testing.T) {
	var key [KeySize]byte
	var iv [IVSize]byte
	got, err := SealBlob(key, iv, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	want := "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919"
	if hexs(got) != want {
		t.Errorf("got %s, want %s", hexs(got), want)
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
