package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	base, err := os.ReadFile("../../testdata/configs/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"example-cert.pem", "example-key.pem", "example-relay.hash", "example-component.secret"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/configs", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Drop the example's [[dkim]] table (it is last) and append extra.
	cfg := string(base[:bytes.Index(base, []byte("[[dkim]]"))]) + extra
	path := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReverseConfigErrors(t *testing.T) {
	path := writeConfig(t, "[[dkim]]\ndomain = \"\"\nselector = \"a b\"\nkey_file = \"nope.pem\"\n")
	b, _ := os.ReadFile(path)
	b = bytes.Replace(b, []byte("rate_per_minute = 30"), []byte("rate_per_minute = 0"), 1)
	b = bytes.Replace(b, []byte("port = 25"), []byte("port = 0"), 1)
	b = bytes.Replace(b, []byte(`tls = "starttls"`), []byte(`tls = "sometimes"`+"\nusername = \"u\""), 1)
	b = bytes.Replace(b, []byte(`addr = ""`), []byte(`addr = "smtp.example.org"`), 1)
	os.WriteFile(path, b, 0o600)
	_, err := LoadConfig(path)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"reverse.rate_per_minute", "delivery.port", "delivery.smarthost.addr",
		"delivery.smarthost.tls", "delivery.smarthost.password", "dkim[0].domain", "dkim[0].selector",
		"dkim[0].key_file", "keys dkim"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
}

func TestKeysDKIMMakesKeyAndPrintsRecord(t *testing.T) {
	path := writeConfig(t, "[[dkim]]\ndomain = \"example.org\"\nselector = \"s1\"\nkey_file = \"dkim/s1.pem\"\n")
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "keys dkim") {
		t.Fatalf("missing key file not reported: %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "dkim", "-c", path, "example.org"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `s1._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=`) {
		t.Fatalf("output = %q", out.String())
	}
	st, err := os.Stat(filepath.Join(filepath.Dir(path), "dkim", "s1.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, st)
	}
	first := out.String()
	out.Reset()
	if err := run(context.Background(), []string{"keys", "dkim", "-c", path, "example.org"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first, strings.TrimSpace(out.String())) || strings.Contains(out.String(), "new DKIM key") {
		t.Fatalf("second run changed the key:\n%s\n%s", first, out.String())
	}
	if _, err := LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"keys", "dkim", "-c", path, "other.example"}, nil, &out, &out); err == nil {
		t.Fatal("a domain without [[dkim]] accepted")
	}
}
