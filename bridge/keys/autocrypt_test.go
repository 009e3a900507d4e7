package keys

import (
	"errors"
	"strings"
	"testing"
)

func TestAutocryptRoundTrip(t *testing.T) {
	e := newKey(t, "", "alice@example.org", nil)
	h, err := AutocryptHeader("alice@example.org", e, true)
	if err != nil {
		t.Fatal(err)
	}
	// Fold the header as a mail writer would.
	folded := strings.Replace(h, "keydata=", "keydata=\r\n ", 1)
	ac, err := ParseAutocrypt(folded)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Addr != "alice@example.org" || ac.PreferEncrypt != "mutual" || FingerprintOf(ac.Key) != FingerprintOf(e) {
		t.Errorf("parsed %+v", ac)
	}
	if ac.Key.PrivateKey != nil {
		t.Error("header carries secret key")
	}
}

func TestAutocryptInvalid(t *testing.T) {
	e := newKey(t, "", "alice@example.org", nil)
	h, _ := AutocryptHeader("alice@example.org", e, false)
	_, keydata, _ := strings.Cut(h, "keydata=")
	tests := []struct {
		name, header string
		wantErr      bool
		wantPrefer   string
	}{
		{name: "no preference", header: h, wantPrefer: "nopreference"},
		{name: "non-critical attribute", header: "_x=1; " + h, wantPrefer: "nopreference"},
		{name: "unknown prefer value", header: "prefer-encrypt=maybe; " + h, wantPrefer: "nopreference"},
		{name: "unknown critical attribute", header: "x=1; " + h, wantErr: true},
		{name: "no addr", header: "keydata=" + keydata, wantErr: true},
		{name: "no keydata", header: "addr=alice@example.org", wantErr: true},
		{name: "duplicate addr", header: "addr=b@example.org; " + h, wantErr: true},
		{name: "bad base64", header: "addr=alice@example.org; keydata=!!!", wantErr: true},
		{name: "not a key", header: "addr=alice@example.org; keydata=AAAA", wantErr: true},
		{name: "no value", header: "addr; keydata=AAAA", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ac, err := ParseAutocrypt(tc.header)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidAutocrypt) {
					t.Errorf("err = %v, want ErrInvalidAutocrypt", err)
				}
				return
			}
			if err != nil || ac.PreferEncrypt != tc.wantPrefer {
				t.Errorf("ParseAutocrypt = %+v, %v", ac, err)
			}
		})
	}
}

func FuzzParseAutocrypt(f *testing.F) {
	e := newKey(f, "", "alice@example.org", nil)
	h, _ := AutocryptHeader("alice@example.org", e, true)
	f.Add(h)
	f.Add("addr=a@b; keydata=AAAA")
	f.Add("_x=;;;addr=;keydata=")
	f.Fuzz(func(t *testing.T, s string) {
		ac, err := ParseAutocrypt(s)
		if err == nil && (ac.Key == nil || ac.Addr == "") {
			t.Fatalf("nil key or addr without error")
		}
	})
}
