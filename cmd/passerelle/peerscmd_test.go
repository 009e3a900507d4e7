package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"passerelle/bridge/peerrec"
	"passerelle/bridge/peertrust"
)

// peersConfig writes a valid config whose keys.dir is private to the test.
func peersConfig(t *testing.T, peers string) (path, keysDir string) {
	t.Helper()
	path = writeConfig(t, "")
	keysDir = filepath.Join(filepath.Dir(path), "keys")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`dir = "/var/lib/passerelle/keys"`), []byte(`dir = "keys"`), 1)
	if peers != "" {
		i := bytes.Index(b, []byte("\n[peers]\n"))
		j := bytes.Index(b, []byte("\n[reverse]\n"))
		if i < 0 || j < i {
			t.Fatal("example.toml: [peers] not before [reverse]")
		}
		b = append(append(append([]byte{}, b[:i+1]...), peers...), b[j:]...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, keysDir
}

func TestPeersConfigValidate(t *testing.T) {
	fp := strings.Repeat("ab", 20)
	cases := []struct {
		name    string
		peers   string
		wantErr []string
	}{
		{name: "defaults", peers: "[peers]\n"},
		{name: "full", peers: "[peers]\nresolver = \"127.0.0.1:53\"\ntrust = \"dnssec\"\npolicy = \"mixed\"\nttl = \"1h\"\n" +
			"[[peers.domain]]\nname = \"B.example.\"\ntrust = \"pinned\"\nfingerprint = \"" + strings.ToUpper(fp) + "\"\n" +
			"[[peers.domain]]\nname = \"c.example\"\ntrust = \"tofu\"\n"},
		{name: "bad values", peers: "[peers]\nresolver = \"localhost\"\nlookup_timeout = \"0s\"\nnegative_ttl = \"48h\"\ntrust = \"pinned\"\npolicy = \"lax\"\nttl = \"30s\"\n",
			wantErr: []string{"peers.resolver", "peers.lookup_timeout", "peers.negative_ttl", "peers.trust", "peers.policy", "peers.ttl"}},
		{name: "unknown key", peers: "[peers]\ntrusst = \"tofu\"\n", wantErr: []string{"peers.trusst: unknown key"}},
		{name: "bad domains", peers: "[peers]\n" +
			"[[peers.domain]]\nname = \"b.example\"\ntrust = \"pinned\"\n" +
			"[[peers.domain]]\nname = \"c.example\"\ntrust = \"tofu\"\nfingerprint = \"" + fp + "\"\n" +
			"[[peers.domain]]\nname = \"d.example\"\ntrust = \"pinned\"\nfingerprint = \"abcd\"\n" +
			"[[peers.domain]]\nname = \"e..example\"\ntrust = \"tofu\"\n" +
			"[[peers.domain]]\nname = \"f.example\"\ntrust = \"always\"\n" +
			"[[peers.domain]]\nname = \"c.example\"\ntrust = \"dnssec\"\n",
			wantErr: []string{"peers.domain[0].fingerprint: required", "peers.domain[1].fingerprint: only with",
				"peers.domain[2].fingerprint: want 40 or 64", "peers.domain[3].name", "peers.domain[4].trust", "peers.domain[5].name: c.example listed twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := peersConfig(t, tc.peers)
			_, err := LoadConfig(path)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Errs) != len(tc.wantErr) {
				t.Fatalf("errors %v, want %d: %v", err, len(tc.wantErr), tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q", want)
				}
			}
		})
	}
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &out)
	return out.String(), err
}

// TestPeersCLI: a key change held by the gateway's checker shows in
// `peers list` with its reason; `peers accept` (another open of the store,
// as another process) makes the gateway's next check accept; `peers
// forget` makes the next contact a first one.
func TestPeersCLI(t *testing.T) {
	path, _ := peersConfig(t, "")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, _, err := cfg.peerTrust(nil) // the running gateway's checker
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := func(b byte) peerrec.Record {
		return peerrec.Record{JID: "mail.b.example", Fingerprint: bytes.Repeat([]byte{b}, 20), Policy: peerrec.Strict, TTL: time.Hour}
	}
	check := func(b byte) peertrust.Verdict {
		d, err := gw.Check(ctx, "b.example", rec(b), false, rec(b).Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		return d.Verdict
	}
	if v := check(1); v != peertrust.Accept {
		t.Fatalf("first contact: %v", v)
	}
	if v := check(2); v != peertrust.Hold {
		t.Fatalf("key change: %v", v)
	}
	out, err := runCLI(t, "peers", "list", "-c", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"b.example", "tofu", "HELD", strings.Repeat("01", 20), "pending key " + strings.Repeat("02", 20),
		"before the pinned record's lifetime ended", "passerelle peers accept -c FILE b.example", "partner.example", "in config", "2 peer(s), 1 held"} {
		if !strings.Contains(out, want) {
			t.Errorf("peers list lacks %q:\n%s", want, out)
		}
	}
	if out, err := runCLI(t, "peers", "accept", "-c", path, "B.example."); err != nil || !strings.Contains(out, "accepted") {
		t.Fatalf("accept: %v %s", err, out)
	}
	if v := check(2); v != peertrust.Accept {
		t.Fatalf("gateway after accept: %v", v)
	}
	if _, err := runCLI(t, "peers", "accept", "-c", path, "b.example"); err == nil || !strings.Contains(err.Error(), "no key change is held") {
		t.Fatalf("second accept: %v", err)
	}
	if _, err := runCLI(t, "peers", "accept", "-c", path, "partner.example"); err == nil || !strings.Contains(err.Error(), "pinned in the configuration") {
		t.Fatalf("accept of a config pin: %v", err)
	}
	if out, err := runCLI(t, "peers", "forget", "-c", path, "b.example"); err != nil || !strings.Contains(out, "forgotten") {
		t.Fatalf("forget: %v %s", err, out)
	}
	if v := check(3); v != peertrust.Accept {
		t.Fatalf("after forget: %v", v)
	}
	if _, err := runCLI(t, "peers", "forget", "-c", path, "nope.example"); !errors.Is(err, peertrust.ErrUnknown) {
		t.Fatalf("forget unknown: %v", err)
	}
	if _, err := runCLI(t, "peers", "frobnicate", "-c", path); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}

// TestKeysDNS: the record printed parses, carries our component JID, our
// domain key's fingerprint and [peers] policy and ttl.
func TestKeysDNS(t *testing.T) {
	path, _ := peersConfig(t, "[peers]\npolicy = \"mixed\"\nttl = \"2h\"\n")
	if _, err := runCLI(t, "keys", "dns", "-c", path, "example.org"); err == nil || !strings.Contains(err.Error(), "keys init") {
		t.Fatalf("without a domain key: %v", err)
	}
	initOut, err := runCLI(t, "keys", "init", "-c", path)
	if err != nil {
		t.Fatal(err)
	}
	fpr := regexp.MustCompile(`[0-9A-F]{40,64}`).FindString(initOut)
	out, err := runCLI(t, "keys", "dns", "-c", path, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "_passerelle.example.org. 3600 IN TXT \"") {
		t.Fatalf("line %q", out)
	}
	var txt strings.Builder
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(out, -1) {
		txt.WriteString(m[1])
	}
	rec, err := peerrec.Parse(txt.String())
	if err != nil {
		t.Fatal(err)
	}
	if rec.JID != "mail.example.org" || !strings.EqualFold(rec.FingerprintHex(), fpr) || rec.Policy != peerrec.Mixed || rec.TTL != 2*time.Hour {
		t.Fatalf("record %+v, domain key %s", rec, fpr)
	}
	if _, err := runCLI(t, "keys", "dns", "-c", path, "other.example"); err == nil {
		t.Fatal("record for a domain not in local_domains")
	}
}
