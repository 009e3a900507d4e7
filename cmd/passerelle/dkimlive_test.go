package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"passerelle/gateway/dkim"
	"passerelle/internal/relay"
	"passerelle/internal/reverse"
)

var (
	_ reverse.DKIM = (*liveDKIM)(nil)
	_ relay.DKIM   = (*liveDKIM)(nil)
)

// TestLiveDKIMSwapsForBothPaths: the relay client and the reverse path
// share one liveDKIM, so a reload that swaps the keys changes the
// selector both sign with (the relay client kept its start-up signer
// before).
func TestLiveDKIMSwapsForBothPaths(t *testing.T) {
	dir := t.TempDir()
	signer := func(sel string) reverse.DKIM {
		t.Helper()
		key, err := dkim.GenerateKey(dkim.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		pem, err := dkim.EncodePrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, sel+".pem")
		if err := os.WriteFile(file, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := dkimSignerFor(&Config{DKIM: []DKIMConfig{{Domain: "home.example", Selector: sel, KeyFile: file}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const msg = "From: a@home.example\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	var d liveDKIM
	if _, err := d.Header("home.example", strings.NewReader(msg)); err == nil {
		t.Fatal("Header without keys signed")
	}
	d.set(nil)
	if d.Signs("home.example") {
		t.Fatal("no keys, yet Signs")
	}
	for _, sel := range []string{"one", "two"} {
		d.set(signer(sel))
		if !d.Signs("home.example") || d.Signs("other.example") {
			t.Fatalf("%s: Signs wrong", sel)
		}
		h, err := d.Header("home.example", strings.NewReader(msg))
		if err != nil {
			t.Fatalf("%s: Header: %v", sel, err)
		}
		if !strings.Contains(h, "s="+sel+";") {
			t.Fatalf("%s: the signature (reverse path and relay client) has another selector: %s", sel, h)
		}
	}
}
