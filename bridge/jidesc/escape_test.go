package jidesc

import (
	"errors"
	"strings"
	"testing"
)

// XEP-0106 §5.1 examples, plus §4.2 and the transformation of \5c itself.
var xepExamples = []struct{ raw, escaped string }{
	{`space cadet`, `space\20cadet`},
	{`call me "ishmael"`, `call\20me\20\22ishmael\22`},
	{`at&t guy`, `at\26t\20guy`},
	{`d'artagnan`, `d\27artagnan`},
	{`/.fanboy`, `\2f.fanboy`},
	{`::foo::`, `\3a\3afoo\3a\3a`},
	{`<foo>`, `\3cfoo\3e`},
	{`user@host`, `user\40host`},
	{`c:\net`, `c\3a\net`},
	{`c:\\net`, `c\3a\\net`},
	{`c:\cool stuff`, `c\3a\cool\20stuff`},
	{`c:\5commas`, `c\3a\5c5commas`},
	{`\3and\2is\5cool`, `\5c3and\2is\5c5cool`},
	{`\5c`, `\5c5c`},
	{`\2plus\2is\4`, `\2plus\2is\4`},
	{`foo\bar`, `foo\bar`},
	{`foo\41r`, `foo\41r`},
	{`call\20me`, `call\5c20me`},
	{`call me\20`, `call\20me\5c20`},
	{`\5C`, `\5C`}, // uppercase hex is not an escape sequence
	{`bob@gmail.com`, `bob\40gmail.com`},
	{``, ``},
}

func TestEscapeXEPExamples(t *testing.T) {
	for i, tc := range xepExamples {
		if got := Escape(tc.raw); got != tc.escaped {
			t.Errorf("%d: Escape(%q) = %q, want %q", i, tc.raw, got, tc.escaped)
		}
		got, err := Unescape(tc.escaped)
		if err != nil || got != tc.raw {
			t.Errorf("%d: Unescape(%q) = %q, %v; want %q", i, tc.escaped, got, err, tc.raw)
		}
	}
}

func TestUnescapeErrors(t *testing.T) {
	long := make([]byte, MaxLocalpart+1)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name, in string
		wantErr  error
	}{
		{"leading \\20", `\20callme`, ErrEdgeSpace},
		{"trailing \\20", `callme\20`, ErrEdgeSpace},
		{"both", `\20callme\20`, ErrEdgeSpace},
		{"raw at", `bob@gmail.com`, ErrRawChar},
		{"raw space", `a b`, ErrRawChar},
		{"raw colon", `c:d`, ErrRawChar},
		{"bad utf8", "a\xffb", ErrInvalidUTF8},
		{"too long", string(long), ErrTooLong},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Unescape(tc.in); !errors.Is(err, tc.wantErr) {
				t.Errorf("%d: Unescape(%q) err = %v, want %v", i, tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
	}{
		{"ok", nil},
		{" lead", ErrEdgeSpace},
		{"trail ", ErrEdgeSpace},
		{"in side", nil},
		{"\xff", ErrInvalidUTF8},
	}
	for i, tc := range tests {
		if err := Validate(tc.in); !errors.Is(err, tc.wantErr) {
			t.Errorf("%d: Validate(%q) = %v, want %v", i, tc.in, err, tc.wantErr)
		}
	}
	if err := Validate(strings.Repeat("@", 342)); !errors.Is(err, ErrTooLong) {
		t.Errorf("escaped length 1026 accepted: %v", err)
	}
	if err := Validate(strings.Repeat("@", 341)); err != nil {
		t.Errorf("escaped length 1023 refused: %v", err)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, tc := range xepExamples {
		f.Add(tc.raw)
		f.Add(tc.escaped)
	}
	f.Add(`\\20`)
	f.Add(`\5c20`)
	f.Fuzz(func(t *testing.T, s string) {
		// Unescape never panics, and what it accepts escapes back to a
		// string that unescapes to the same value.
		if u, err := Unescape(s); err == nil {
			if u2, err := Unescape(Escape(u)); err != nil || u2 != u {
				t.Fatalf("Unescape(Escape(%q)) = %q, %v", u, u2, err)
			}
		}
		if Validate(s) != nil {
			return
		}
		e := Escape(s)
		got, err := Unescape(e)
		if err != nil || got != s {
			t.Fatalf("Unescape(Escape(%q)) = Unescape(%q) = %q, %v", s, e, got, err)
		}
	})
}
