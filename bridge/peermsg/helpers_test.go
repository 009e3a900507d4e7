package peermsg

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/keys"
	"passerelle/bridge/payload"
)

var (
	testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	keyTime = testNow.Add(-90 * 24 * time.Hour)
)

const rawMail = "From: alice@a.example\r\nTo: bob@b.example\r\nSubject: hi\r\n\r\nhello\r\n"

func domainKey(t testing.TB, dom string) *openpgp.Entity {
	t.Helper()
	e, err := keys.GenerateDomainKey(dom, keyTime)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func publicOnly(t testing.TB, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(&b)
	if err != nil {
		t.Fatal(err)
	}
	return el[0]
}

func sampleEnvelope() *Envelope {
	return &Envelope{ID: "abcdefghijklmnopqrstuvwxyz.b.example", SenderDomain: "a.example",
		MailFrom: "alice@a.example", EnvID: "env-1",
		Rcpts: []Rcpt{{Addr: "bob@b.example", ORCPT: "rfc822;bob@b.example", Notify: []string{"FAILURE", "DELAY"}},
			{Addr: "carol@b.example"}},
		Mail: &payload.Mail{Raw: []byte(rawMail), MessageID: "m1@a.example"}}
}

// decoder returns a token reader positioned before the first element of s.
func decoder(s string) xml.TokenReader { return xml.NewDecoder(bytes.NewReader([]byte(s))) }

func encode(t testing.TB, toks []xml.Token) string {
	t.Helper()
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	for _, tk := range toks {
		if err := enc.EncodeToken(tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
