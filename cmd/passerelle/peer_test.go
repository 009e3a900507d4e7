package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"passerelle/bridge/peerrec"
	"passerelle/internal/dnstest"
)

// TestPolicyExplainPeer: for a remote address, policy explain shows the
// peer route's decision and why, from the record and the pin store, and
// leaves the store as it was (no first-use pin).
func TestPolicyExplainPeer(t *testing.T) {
	d := dnstest.Start(t)
	ex, err := os.ReadFile("../../testdata/configs/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// the files example.toml names, next to the copy
	others, _ := filepath.Glob("../../testdata/configs/example-*")
	for _, f := range others {
		abs, _ := filepath.Abs(f)
		if err := os.Symlink(abs, filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.Replace(string(ex), `# resolver = "127.0.0.1:53"`, `resolver = "`+d.Addr+`"`, 1)
	cfg = strings.Replace(cfg, `lookup_timeout = "5s"`, `lookup_timeout = "1s"`, 1)
	path := filepath.Join(dir, "passerelle.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := bytes.Repeat([]byte{0xab}, 20)
	d.SetTXT("_passerelle.b.example", peerrec.Record{JID: "mail.b.example", Fingerprint: fp,
		Policy: peerrec.Strict, TTL: time.Hour}.String())
	d.SetTXT("_passerelle.partner.example", peerrec.Record{JID: "mail.partner.example", Fingerprint: fp,
		Policy: peerrec.Mixed, TTL: time.Hour}.String())
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"bob@b.example", []string{"local:             no", "peer record:       jid=mail.b.example fp=" + strings.Repeat("ab", 20),
			"peer trust:        tofu", "peer:              yes: first contact pins this key",
			"gateway unusable:  451/550 as above, never SMTP (policy=strict)"}},
		{"x@partner.example", []string{"peer trust:        pinned", "peer:              refused (550 5.7.1): the record's key",
			"gateway unusable:  451/550 as above (policy=mixed would allow SMTP: peers.smtp_fallback is off)"}},
		{"x@nopeer.example", []string{"peer:              no: nopeer.example publishes no _passerelle.nopeer.example. record"}},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"policy", "explain", "-c", path, tc.addr}, nil, &out, &out); err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.addr, w, out.String())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "peers.json")); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, "keys", "peers.json"))
		if strings.Contains(string(b), "b.example") {
			t.Errorf("policy explain pinned a key:\n%s", b)
		}
	}
}
