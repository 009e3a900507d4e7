package dkim

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: Hello\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hi Bob,\r\n.\r\n..leading dots\r\n"

// lookupFrom answers TXT queries from DNSRecord lines, the way a DNS
// server publishing them would.
func lookupFrom(t *testing.T, records ...string) func(string) ([]string, error) {
	quoted := regexp.MustCompile(`"([^"]*)"`)
	zone := map[string][]string{}
	for _, rec := range records {
		name, _, _ := strings.Cut(rec, " ")
		var txt strings.Builder
		for _, m := range quoted.FindAllStringSubmatch(rec, -1) {
			if len(m[1]) > 255 {
				t.Errorf("TXT string of %d bytes", len(m[1]))
			}
			txt.WriteString(m[1])
		}
		name = strings.TrimSuffix(name, ".")
		zone[name] = append(zone[name], txt.String())
	}
	return func(domain string) ([]string, error) {
		if txts, ok := zone[domain]; ok {
			return txts, nil
		}
		return nil, errors.New("no such record")
	}
}

func newKey(t *testing.T, kind KeyType, selector string) (DomainConfig, string) {
	t.Helper()
	key, err := GenerateKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DNSRecord(selector, "example.org", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return DomainConfig{Domain: "example.org", Selector: selector, Key: key}, rec
}

func verify(t *testing.T, msg []byte, lookup func(string) ([]string, error)) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestSignVerify(t *testing.T) {
	ed, edRec := newKey(t, Ed25519, "ed")
	rs, rsRec := newKey(t, RSA, "rsa")
	tests := []struct {
		name    string
		domains []DomainConfig
	}{
		{"ed25519", []DomainConfig{ed}},
		{"rsa-2048", []DomainConfig{rs}},
		{"dual", []DomainConfig{ed, rs}},
	}
	lookup := lookupFrom(t, edRec, rsRec)
	tamper := []struct{ name, old, new string }{
		{"subject", "Subject: Hello", "Subject: Hellp"},
		{"second From", "To: Bob", "From: Mallory <m@example.com>\r\nTo: Bob"},
		{"added Cc", "To: Bob", "Cc: eve@example.com\r\nTo: Bob"},
		{"body", "Hi Bob", "Hi Rob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Domains: tt.domains})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := s.Sign("Example.ORG", strings.NewReader(testMessage), &out); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(out.String(), testMessage) {
				t.Fatal("message changed by signing")
			}
			vs := verify(t, out.Bytes(), lookup)
			if len(vs) != len(tt.domains) {
				t.Fatalf("%d signatures, want %d", len(vs), len(tt.domains))
			}
			for _, v := range vs {
				if v.Err != nil || v.Domain != "example.org" {
					t.Errorf("verification: domain %q, %v", v.Domain, v.Err)
				}
			}
			for _, tm := range tamper {
				bad := strings.Replace(out.String(), tm.old, tm.new, 1)
				for _, v := range verify(t, []byte(bad), lookup) {
					if v.Err == nil {
						t.Errorf("%s: signature still verifies", tm.name)
					}
				}
			}
		})
	}
}

func TestSignNoKey(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Sign("example.org", strings.NewReader(testMessage), &bytes.Buffer{})
	if !errors.Is(err, ErrNoKey) || s.Signs("example.org") {
		t.Fatalf("err = %v, want ErrNoKey", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, k crypto.Signer) string {
		b, err := EncodePrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, kind := range []KeyType{Ed25519, RSA} {
		k, err := GenerateKey(kind)
		if err != nil {
			t.Fatal(err)
		}
		p := write(string(kind)+".pem", k)
		if _, err := New(Config{Domains: []DomainConfig{{Domain: "example.org", Selector: "s", KeyFile: p}}}); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if _, err := ParsePrivateKey(weakRSAKey(t)); err == nil {
		t.Error("1024-bit RSA key accepted")
	}
	if _, err := New(Config{Domains: []DomainConfig{{Domain: "example.org", Selector: "s", KeyFile: filepath.Join(dir, "none")}}}); err == nil {
		t.Error("missing key file accepted")
	}
	k, _ := GenerateKey(Ed25519)
	if _, err := New(Config{Domains: []DomainConfig{{Domain: "example.org", Selector: "s", Key: k, Headers: []string{"Subject"}}}}); err == nil {
		t.Error("headers without From accepted")
	}
}

func TestDNSRecord(t *testing.T) {
	ed, _ := GenerateKey(Ed25519)
	rec, err := DNSRecord("sel", "example.org", ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^sel\._domainkey\.example\.org\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$`).MatchString(rec) {
		t.Errorf("ed25519 record = %s", rec)
	}
	rs, _ := GenerateKey(RSA)
	rec, err = DNSRecord("sel", "example.org.", rs.Public())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(rec, `"`) != 4 || !strings.Contains(rec, `IN TXT "v=DKIM1; k=rsa; p=`) {
		t.Errorf("rsa record = %s", rec)
	}
	if _, err := DNSRecord("sel", "example.org", "not a key"); err == nil {
		t.Error("bad key accepted")
	}
}
