package jidesc

import (
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

const component = "mail.example.org"

func TestPuppetJID(t *testing.T) {
	tests := []struct {
		name, email string
		wantJID     string
		wantEmail   string
		wantErr     error
	}{
		{name: "plain", email: "bob@gmail.com", wantJID: `bob\40gmail.com@mail.example.org`, wantEmail: "bob@gmail.com"},
		{name: "case folded", email: "Bob@GMail.COM", wantJID: `bob\40gmail.com@mail.example.org`, wantEmail: "bob@gmail.com"},
		{name: "plus and dots", email: "a.b+tag@x.example", wantJID: `a.b+tag\40x.example@mail.example.org`, wantEmail: "a.b+tag@x.example"},
		{name: "apostrophe slash", email: "o'hara/x@ie.example", wantJID: `o\27hara\2fx\40ie.example@mail.example.org`, wantEmail: "o'hara/x@ie.example"},
		{name: "quoted space", email: `"john doe"@example.com`, wantJID: `\22john\20doe\22\40example.com@mail.example.org`, wantEmail: `"john doe"@example.com`},
		{name: "quoted at", email: `"a@b"@example.com`, wantJID: `\22a\40b\22\40example.com@mail.example.org`, wantEmail: `"a@b"@example.com`},
		{name: "backslash escape seq", email: `"c:\\5c"@example.com`, wantJID: `\22c\3a\\5c5c\22\40example.com@mail.example.org`, wantEmail: `"c:\\5c"@example.com`},
		{name: "utf8", email: "pelé@exämple.fr", wantJID: `pelé\40exämple.fr@mail.example.org`, wantEmail: "pelé@exämple.fr"},
		{name: "trailing dot domain", email: "bob@gmail.com.", wantJID: `bob\40gmail.com@mail.example.org`, wantEmail: "bob@gmail.com"},
		{name: "no at", email: "bob", wantErr: ErrBadEmail},
		{name: "empty local", email: "@gmail.com", wantErr: ErrBadEmail},
		{name: "empty domain", email: "bob@", wantErr: ErrBadEmail},
		{name: "double dot", email: "a..b@x.org", wantErr: ErrBadEmail},
		{name: "space unquoted", email: "a b@x.org", wantErr: ErrBadEmail},
		{name: "leading space", email: " a@x.org", wantErr: ErrBadEmail},
		{name: "address literal", email: "a@[127.0.0.1]", wantErr: ErrBadEmail},
		{name: "control", email: "a\x01@x.org", wantErr: ErrBadEmail},
		{name: "hyphen label", email: "a@-x.org", wantErr: ErrBadEmail},
		{name: "long local", email: strings.Repeat("a", 65) + "@x.org", wantErr: ErrBadEmail},
		{name: "bad utf8", email: "a\xff@x.org", wantErr: ErrBadEmail},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := PuppetJID(tc.email, component)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("%d: PuppetJID(%q) err = %v, want %v", i, tc.email, err, tc.wantErr)
				}
				return
			}
			if err != nil || j.String() != tc.wantJID {
				t.Fatalf("%d: PuppetJID(%q) = %q, %v; want %q", i, tc.email, j, err, tc.wantJID)
			}
			parsed := jid.MustParse(j.String())
			got, err := EmailFromPuppet(parsed)
			if err != nil || got != tc.wantEmail {
				t.Fatalf("%d: EmailFromPuppet(%s) = %q, %v; want %q", i, j, got, err, tc.wantEmail)
			}
		})
	}
}

func TestEmailFromPuppetRejects(t *testing.T) {
	tests := []struct{ name, jid string }{
		{"domain jid", "mail.example.org"},
		{"no at escaped", "bob@mail.example.org"},
		{"non canonical", `bob\5cx\40gmail.com@mail.example.org`},
		{"leading space", `\20bob\40gmail.com@mail.example.org`},
		{"bad email", `a..b\40x.org@mail.example.org`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := jid.MustParse(tc.jid)
			if got, err := EmailFromPuppet(j); !errors.Is(err, ErrNotPuppet) {
				t.Fatalf("%d: EmailFromPuppet(%s) = %q, %v; want ErrNotPuppet", i, tc.jid, got, err)
			}
		})
	}
}

func FuzzPuppet(f *testing.F) {
	f.Add("bob@gmail.com")
	f.Add(`"a b"@x.org`)
	f.Fuzz(func(t *testing.T, email string) {
		j, err := PuppetJID(email, component)
		if err != nil {
			return
		}
		got, err := EmailFromPuppet(jid.MustParse(j.String()))
		if err != nil {
			t.Fatalf("EmailFromPuppet(%s) from %q: %v", j, email, err)
		}
		if j2, err := PuppetJID(got, component); err != nil || !j2.Equal(j) {
			t.Fatalf("round trip %q -> %s -> %q -> %s, %v", email, j, got, j2, err)
		}
	})
}
