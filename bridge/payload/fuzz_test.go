package payload

import (
	"bytes"
	"testing"
)

func FuzzParsePayload(f *testing.F) {
	for _, p := range []Payload{
		{Body: "hi"},
		{Subject: "s", Body: "b", Thread: "t", Mail: &Mail{Raw: trickyMail, MessageID: "a@b"}},
		{Mail: &Mail{External: &External{URL: "https://h.example/f", Size: 3}}},
	} {
		b, err := Build(&p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='3' sha256='" + sum3 + "'>eA0K</mail>" + post))
	f.Add([]byte("<!DOCTYPE x>" + pre + post))
	lim := Limits{MaxBytes: 1 << 16, MaxMailBytes: 1 << 16, MaxTextBytes: 1 << 12, MaxDepth: 8}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b, lim)
		if err != nil {
			return
		}
		// What parses must build and parse back to the same payload.
		out, err := Build(p)
		if err != nil {
			if p.Mail != nil && len(p.Mail.Raw) == 0 && p.Mail.External == nil {
				return // an empty inline mail parses but is not built
			}
			t.Fatalf("Build of a parsed payload: %v", err)
		}
		q, err := Parse(out, Limits{})
		if err != nil || !equal(p, q) {
			t.Fatalf("round trip: %v\n%q\n%q", err, b, out)
		}
		if p.Mail != nil && p.Mail.Raw != nil && !bytes.Equal(p.Mail.Raw, q.Mail.Raw) {
			t.Fatal("raw mail changed")
		}
	})
}
