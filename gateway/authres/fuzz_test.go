package authres

import (
	"context"
	"strings"
	"testing"

	"passerelle/gateway/dkim"
)

// FuzzVerify feeds arbitrary messages to the verifier, with a DNS that
// knows one key and one DMARC record: it must never panic, and the header
// field it writes must stay one field whatever the message says.
func FuzzVerify(f *testing.F) {
	ed := mustKey(f, dkim.Ed25519)
	z := zone{"_dmarc.remote.example": {"v=DMARC1; p=reject"}}
	z.publish(f, "ed", "remote.example", ed)
	f.Add([]byte(signed(f, testMail, "remote.example", "ed", ed)))
	f.Add([]byte(testMail))
	f.Add([]byte("From: a@b\r\nFrom: c@d\r\n\r\n"))
	f.Add([]byte("DKIM-Signature: v=1; a=ed25519-sha256; d=\"x;\r\n y\"; s=(; h=from; bh=; b=\r\nFrom: =?utf-8?q?=E2?= <a@remote.example>\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	v, err := New(Config{Hostname: "mx.example.org", LookupTXT: z.lookup})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := v.Verify(context.Background(), raw)
		switch r.Verdict {
		case Pass, Fail, None, TempError:
		default:
			t.Fatalf("verdict %q", r.Verdict)
		}
		if strings.ContainsAny(r.Header, "\r\n") || !strings.HasPrefix(r.Header, "mx.example.org; ") {
			t.Fatalf("header %q", r.Header)
		}
		if r.DKIMPass != (r.Verdict == Pass) {
			t.Fatalf("DKIMPass %v with verdict %s", r.DKIMPass, r.Verdict)
		}
		_ = StripOwn(raw, "mx.example.org")
	})
}
