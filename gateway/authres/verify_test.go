package authres

import (
	"bytes"
	"context"
	"crypto"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"passerelle/gateway/dkim"
)

const testMail = "From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\nSubject: hello\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <1@remote.example>\r\n\r\nHi Alice,\r\nthe plans.\r\n"

// zone is a fake DNS: name -> TXT records; absent names are NXDOMAIN.
type zone map[string][]string

func (z zone) lookup(_ context.Context, name string) ([]string, error) {
	if txts, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return txts, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// publish adds the key record of key under selector._domainkey.domain.
func (z zone) publish(t testing.TB, selector, domain string, key crypto.Signer) {
	t.Helper()
	rec, err := dkim.DNSRecord(selector, domain, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(rec, -1) {
		txt.WriteString(m[1])
	}
	z[selector+"._domainkey."+domain] = []string{txt.String()}
}

// signed signs mail with key as domain/selector, using gateway/dkim.
func signed(t testing.TB, mail, domain, selector string, key crypto.Signer) string {
	t.Helper()
	s, err := dkim.New(dkim.Config{Domains: []dkim.DomainConfig{{Domain: domain, Selector: selector, Key: key}}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := s.Sign(domain, strings.NewReader(mail), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func mustKey(t testing.TB, kind dkim.KeyType) crypto.Signer {
	t.Helper()
	k, err := dkim.GenerateKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerify(t *testing.T) {
	ed, rsaKey, other := mustKey(t, dkim.Ed25519), mustKey(t, dkim.RSA), mustKey(t, dkim.Ed25519)
	base := func() zone {
		z := zone{}
		z.publish(t, "ed", "remote.example", ed)
		z.publish(t, "rsa", "remote.example", rsaKey)
		z.publish(t, "o", "other.example", other)
		return z
	}
	sub := strings.Replace(testMail, "bob@remote.example", "bob@mail.remote.example", 1)
	for _, tc := range []struct {
		name         string
		mail         string
		dmarc        map[string]string // _dmarc name -> record
		wantVerdict  Verdict
		wantPass     bool
		wantSelector string
		wantPolicy   Policy
		wantReject   bool
		wantHeader   []string
	}{
		{name: "ed25519 aligned, p=reject", mail: signed(t, testMail, "remote.example", "ed", ed),
			dmarc:       map[string]string{"remote.example": "v=DMARC1; p=reject"},
			wantVerdict: Pass, wantPass: true, wantSelector: "ed", wantPolicy: PolicyReject,
			wantHeader: []string{"mx.example.org; dkim=pass header.d=remote.example header.s=ed; dmarc=pass (p=reject) header.from=remote.example"}},
		{name: "rsa aligned, no dmarc", mail: signed(t, testMail, "remote.example", "rsa", rsaKey),
			wantVerdict: Pass, wantPass: true, wantSelector: "rsa",
			wantHeader: []string{"dkim=pass header.d=remote.example header.s=rsa", "dmarc=none header.from=remote.example"}},
		{name: "relaxed: parent domain signs a subdomain", mail: signed(t, sub, "remote.example", "ed", ed),
			dmarc:       map[string]string{"remote.example": "v=DMARC1; p=reject"},
			wantVerdict: Pass, wantPass: true, wantSelector: "ed", wantPolicy: PolicyReject},
		{name: "strict: parent domain does not align", mail: signed(t, sub, "remote.example", "ed", ed),
			dmarc:       map[string]string{"remote.example": "v=DMARC1; p=reject; adkim=s"},
			wantVerdict: Fail, wantPolicy: PolicyReject, wantReject: true,
			wantHeader: []string{"dkim=pass header.d=remote.example", "dmarc=fail (p=reject) header.from=mail.remote.example"}},
		{name: "signed by another domain, p=reject", mail: signed(t, testMail, "other.example", "o", other),
			dmarc:       map[string]string{"remote.example": "v=DMARC1; p=reject"},
			wantVerdict: Fail, wantPolicy: PolicyReject, wantReject: true,
			wantHeader: []string{"dkim=pass header.d=other.example header.s=o", "dmarc=fail (p=reject)"}},
		{name: "signed by another domain, no dmarc", mail: signed(t, testMail, "other.example", "o", other),
			wantVerdict: None},
		{name: "body modified", mail: strings.Replace(signed(t, testMail, "remote.example", "ed", ed), "the plans", "the new plans", 1),
			wantVerdict: Fail, wantHeader: []string{`dkim=fail reason="signature did not verify" header.d=remote.example header.s=ed`}},
		{name: "From replaced after signing", mail: strings.Replace(signed(t, testMail, "remote.example", "ed", ed), "Bob <bob", "Boss <bob", 1),
			dmarc: map[string]string{"remote.example": "v=DMARC1; p=quarantine"}, wantVerdict: Fail, wantPolicy: PolicyQuarantine},
		{name: "unsigned, no dmarc", mail: testMail, wantVerdict: None,
			wantHeader: []string{"mx.example.org; dkim=none; dmarc=none header.from=remote.example"}},
		{name: "unsigned, p=quarantine", mail: testMail, dmarc: map[string]string{"remote.example": "v=DMARC1; p=quarantine"},
			wantVerdict: Fail, wantPolicy: PolicyQuarantine},
		{name: "unsigned, p=reject pct=50", mail: testMail, dmarc: map[string]string{"remote.example": "v=DMARC1; p=reject; pct=50"},
			wantVerdict: Fail, wantPolicy: PolicyReject},
		{name: "subdomain takes sp", mail: sub, dmarc: map[string]string{"remote.example": "v=DMARC1; p=reject; sp=none"},
			wantVerdict: Fail, wantPolicy: PolicyNone},
		{name: "unsigned, p=reject", mail: testMail, dmarc: map[string]string{"remote.example": "v=DMARC1; p=reject"},
			wantVerdict: Fail, wantPolicy: PolicyReject, wantReject: true},
		{name: "two From fields", mail: "From: a@remote.example\r\n" + signed(t, testMail, "remote.example", "ed", ed),
			wantVerdict: Fail, wantHeader: []string{`dmarc=permerror reason="not exactly one From address"`}},
		{name: "unknown selector", mail: signed(t, testMail, "remote.example", "gone", ed), wantVerdict: Fail,
			wantHeader: []string{"dkim=permerror"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := base()
			for d, rec := range tc.dmarc {
				z["_dmarc."+d] = []string{rec}
			}
			v, err := New(Config{Hostname: "mx.example.org", LookupTXT: z.lookup})
			if err != nil {
				t.Fatal(err)
			}
			r := v.Verify(context.Background(), []byte(tc.mail))
			if r.Verdict != tc.wantVerdict || r.DKIMPass != tc.wantPass || r.DKIMSelector != tc.wantSelector ||
				r.DMARCPolicy != tc.wantPolicy || r.RejectedByPolicy() != tc.wantReject {
				t.Errorf("result = %+v (reject %v)", r, r.RejectedByPolicy())
			}
			for _, h := range tc.wantHeader {
				if !strings.Contains(r.Header, h) {
					t.Errorf("header %q lacks %q", r.Header, h)
				}
			}
		})
	}
}

func TestVerifyTimeoutIsTempError(t *testing.T) {
	ed := mustKey(t, dkim.Ed25519)
	hang := func(ctx context.Context, name string) ([]string, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	v, err := New(Config{Hostname: "mx.example.org", LookupTXT: hang, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i, mail := range []string{testMail, signed(t, testMail, "remote.example", "ed", ed)} {
		start := time.Now()
		r := v.Verify(context.Background(), []byte(mail))
		if r.Verdict != TempError || r.RejectedByPolicy() {
			t.Errorf("%d: result = %+v", i, r)
		}
		if !strings.Contains(r.Header, "dmarc=temperror") {
			t.Errorf("%d: header = %q", i, r.Header)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%d: took %v with a 50ms timeout", i, d)
		}
	}
}

func TestVerifyCapsSignatures(t *testing.T) {
	ed := mustKey(t, dkim.Ed25519)
	z := zone{}
	z.publish(t, "ed", "remote.example", ed)
	mail := signed(t, testMail, "remote.example", "ed", ed)
	mail = strings.Repeat(strings.TrimSuffix(mail, testMail), 10) + mail
	v, _ := New(Config{Hostname: "mx.example.org", LookupTXT: z.lookup, MaxSignatures: 3})
	r := v.Verify(context.Background(), []byte(mail))
	if n := strings.Count(r.Header, "dkim="); n != 3 || r.Verdict != Pass {
		t.Fatalf("%d dkim results, verdict %s; want 3, pass: %s", n, r.Verdict, r.Header)
	}
}

func TestField(t *testing.T) {
	r := Result{Header: "mx.example.org; dkim=none; dmarc=none header.from=remote.example"}
	want := "Authentication-Results: mx.example.org;\r\n\tdkim=none;\r\n\tdmarc=none header.from=remote.example\r\n"
	if got := r.Field(); got != want {
		t.Fatalf("Field() = %q, want %q", got, want)
	}
}

func TestNewNeedsHostname(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a hostname succeeded")
	}
}
