package keys

import (
	"testing"
)

func TestNormalizeAddress(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "alice@example.org", want: "alice@example.org"},
		{in: "Alice@Example.ORG", want: "alice@example.org"},
		{in: "<alice@example.org>", want: "alice@example.org"},
		{in: "Alice Liddell <alice@example.org>", want: "alice@example.org"},
		{in: "xmpp:alice@example.org", want: "alice@example.org"},
		{in: "XMPP:alice@example.org", want: "alice@example.org"},
		{in: "mailto:alice@example.org", want: "alice@example.org"},
		{in: `bob\40gmail.com@mail.example.org`, want: `bob\40gmail.com@mail.example.org`},
		{in: "", wantErr: true},
		{in: "alice", wantErr: true},
		{in: "@example.org", wantErr: true},
		{in: "alice@", wantErr: true},
		{in: "a b@example.org", wantErr: true},
		{in: "xmpp:mail.example.org", wantErr: true},
	}
	for i, tc := range tests {
		got, err := NormalizeAddress(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%d: NormalizeAddress(%q) = %q, %v; want %q, err %v", i, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestHasAddressForms(t *testing.T) {
	tests := []struct {
		name        string
		uName, mail string
	}{
		{"gnupg bare address in Name", "alice@example.org", ""},
		{"name and email", "Alice", "alice@example.org"},
		{"xmpp uri", "xmpp:alice@example.org", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newKey(t, tc.uName, tc.mail, nil)
			for _, q := range []string{"alice@example.org", "ALICE@example.org", "xmpp:alice@example.org"} {
				if !HasAddress(e, q) {
					t.Errorf("HasAddress(%q) = false", q)
				}
			}
			if HasAddress(e, "bob@example.org") {
				t.Errorf("HasAddress(bob) = true")
			}
		})
	}
}
