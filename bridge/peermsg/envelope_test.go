package peermsg

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"passerelle/bridge/payload"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	big := &payload.External{URL: "https://up.example/x", Size: 30 << 20}
	for i, e := range []*Envelope{
		sampleEnvelope(),
		{ID: "x", SenderDomain: "a.example", Rcpts: []Rcpt{{Addr: "bob@b.example"}},
			Mail: &payload.Mail{Raw: []byte(rawMail)}}, // null sender (a DSN)
		{ID: "y", SenderDomain: "a.example", MailFrom: "Alice@A.example", Rcpts: []Rcpt{{Addr: "bob@b.example"}},
			Mail: &payload.Mail{External: big}},
		{ID: "z", SenderDomain: "a.example", MailFrom: "alice@a.example", Rcpts: []Rcpt{{Addr: "bob@b.example"}},
			Sealed: []Sealed{{Rcpt: "bob@b.example", Data: []byte{0xc1, 2, 3}}}}, // end to end only
	} {
		b, err := BuildEnvelope(e)
		if err != nil {
			t.Fatalf("%d: build: %v", i, err)
		}
		got, err := ParseEnvelope(b, Limits{})
		if err != nil {
			t.Fatalf("%d: parse: %v\n%s", i, err, b)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%d: round trip:\n got %+v\nwant %+v", i, got, e)
		}
	}
}

func TestEnvelopeValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Envelope)
	}{
		{"bad id", func(e *Envelope) { e.ID = "a/b" }},
		{"long id", func(e *Envelope) { e.ID = strings.Repeat("a", 65) }},
		{"no rcpt", func(e *Envelope) { e.Rcpts = nil }},
		{"sender outside sender-domain", func(e *Envelope) { e.MailFrom = "mallory@evil.example" }},
		{"bad sender", func(e *Envelope) { e.MailFrom = "alice@a.example>" }},
		{"duplicate rcpt", func(e *Envelope) { e.Rcpts = append(e.Rcpts, Rcpt{Addr: "BOB@b.example"}) }},
		{"bad notify", func(e *Envelope) { e.Rcpts[0].Notify = []string{"SOMETIMES"} }},
		{"control in envid", func(e *Envelope) { e.EnvID = "a\nb" }},
		{"sealed for a stranger", func(e *Envelope) { e.Sealed = []Sealed{{Rcpt: "eve@b.example", Data: []byte{1}}} }},
		{"no mail, not all sealed", func(e *Envelope) {
			e.Mail = nil
			e.Sealed = []Sealed{{Rcpt: "bob@b.example", Data: []byte{1}}}
		}},
		{"bad sender-domain", func(e *Envelope) { e.SenderDomain = "a example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sampleEnvelope()
			tc.mutate(e)
			if _, err := BuildEnvelope(e); !errors.Is(err, ErrInvalid) {
				t.Errorf("BuildEnvelope: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	good, err := BuildEnvelope(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	gs := string(good)
	mailEl := gs[strings.Index(gs, "<mail "):strings.LastIndex(gs, "</envelope>")]
	open := `<envelope xmlns="urn:passerelle:peer:0" id="i" sender-domain="a.example" mail-from="alice@a.example">`
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"wrong root", `<envelope xmlns="urn:other"/>`, ErrMalformed},
		{"no mail-from attribute", `<envelope xmlns="urn:passerelle:peer:0" id="i" sender-domain="a.example"><rcpt to="b@b.example"/>` + mailEl + `</envelope>`, ErrMalformed},
		{"two mails", open + `<rcpt to="b@b.example"/>` + mailEl + mailEl + `</envelope>`, ErrMalformed},
		{"text", open + `hello</envelope>`, ErrMalformed},
		{"trailing element", open + `<rcpt to="b@b.example"/>` + mailEl + `</envelope><x/>`, ErrMalformed},
		{"doctype", `<!DOCTYPE x>` + open + `</envelope>`, ErrMalformed},
		{"no mail", open + `<rcpt to="b@b.example"/></envelope>`, ErrInvalid},
		{"mail sha mismatch", open + `<rcpt to="b@b.example"/>` + flipSHA(mailEl) + `</envelope>`, payload.ErrIntegrity},
		{"mail without own namespace", `<p:envelope xmlns:p="urn:passerelle:peer:0" xmlns:m="urn:passerelle:mail:0" id="i" sender-domain="a.example" mail-from=""><p:rcpt to="b@b.example"/><m:mail encoding="base64" size="1" sha256="` + strings.Repeat("0", 64) + `">QQ==</m:mail></p:envelope>`, ErrMalformed},
		{"bad sealed base64", open + `<rcpt to="b@b.example"/><sealed rcpt="b@b.example">!!</sealed></envelope>`, ErrMalformed},
		{"too large", open + strings.Repeat(" ", 1<<20) + `</envelope>`, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnvelope([]byte(tc.in), Limits{})
			if !errors.Is(err, tc.want) {
				t.Errorf("ParseEnvelope: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseEnvelopeIgnoresUnknown(t *testing.T) {
	good, err := BuildEnvelope(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(good), "<rcpt ", `<future xmlns="urn:passerelle:peer:0" a="1"><deep/></future><rcpt extra="x" `, 1)
	s = strings.Replace(s, `id="`, `new-attr="1" id="`, 1)
	got, err := ParseEnvelope([]byte(s), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleEnvelope()) {
		t.Errorf("got %+v", got)
	}
}

func TestParseEnvelopeRcptLimit(t *testing.T) {
	e := sampleEnvelope()
	b, err := BuildEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseEnvelope(b, Limits{MaxRcpts: 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2 recipients, limit 1: %v", err)
	}
}

// flipSHA changes the first digit of the sha256 attribute.
func flipSHA(el string) string {
	i := strings.Index(el, `sha256="`) + len(`sha256="`)
	c := byte('0')
	if el[i] == '0' {
		c = '1'
	}
	return el[:i] + string(c) + el[i+1:]
}
