package payload

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// trickyMail holds what must survive byte-exact: bare CR, bare LF, the
// SMTP end-of-data sequence, 8bit bytes, invalid UTF-8 in a header.
var trickyMail = []byte("From: a@example.org\r\nSubject: caf\xe9 \xff\xfe\r\n" +
	"X-Bare-CR: one\rtwo\r\n\r\nline\r\n.\r\n..dot\r\nbare LF\nend \x01\x7f\x80\xc3\xa9 ]]> &amp; <x>\r\n")

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Payload
	}{
		{"chat only", Payload{Body: "hello"}},
		{"inline tricky", Payload{Subject: "Re: <tag> & \"q\"", Body: "text\r\nwith CR\rand ]]>", Thread: "t-1",
			Mail: &Mail{Raw: trickyMail, MessageID: "a@b", InReplyTo: "c@d"}}},
		{"inline 1 byte", Payload{Mail: &Mail{Raw: []byte{'\r'}}}},
		{"external", Payload{Body: "big", Mail: &Mail{External: &External{
			URL: "https://upload.example.org/x/y?z=1&w=2", Size: 25 << 20,
			SHA256: [32]byte{1, 2}, Key: [32]byte{3}, IV: [12]byte{4}}}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Build(&tc.in)
			if err != nil {
				t.Fatalf("case %d: Build: %v", i, err)
			}
			got, err := Parse(b, Limits{})
			if err != nil {
				t.Fatalf("case %d: Parse: %v\n%s", i, err, b)
			}
			if !equal(got, &tc.in) {
				t.Errorf("case %d: got %+v, want %+v", i, got, tc.in)
			}
		})
	}
}

func equal(a, b *Payload) bool {
	if a.Subject != b.Subject || a.Body != b.Body || a.Thread != b.Thread || (a.Mail == nil) != (b.Mail == nil) {
		return false
	}
	if a.Mail == nil {
		return true
	}
	am, bm := a.Mail, b.Mail
	if !bytes.Equal(am.Raw, bm.Raw) || am.MessageID != bm.MessageID || am.InReplyTo != bm.InReplyTo {
		return false
	}
	return (am.External == nil && bm.External == nil) || *am.External == *bm.External
}

func TestBuildShape(t *testing.T) {
	b, err := Build(&Payload{Subject: "S", Body: "B", Mail: &Mail{Raw: []byte("x\r\n")}})
	if err != nil {
		t.Fatal(err)
	}
	want := `<payload xmlns="urn:xmpp:openpgp:0"><subject xmlns="jabber:client">S</subject>` +
		`<body xmlns="jabber:client">B</body><mail xmlns="urn:passerelle:mail:0" encoding="base64" size="3" ` +
		`sha256="b35e09fa2ced9ebcad9d16336fb961146fe34bfbebc562679da85f8a314c9dca">eA0K</mail></payload>`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   Payload
	}{
		{"invalid UTF-8 body", Payload{Body: "a\xffb"}},
		{"NUL in subject", Payload{Subject: "a\x00b"}},
		{"empty mail", Payload{Mail: &Mail{}}},
		{"both forms", Payload{Mail: &Mail{Raw: []byte("x"), External: &External{URL: "https://h/"}}}},
		{"http external", Payload{Mail: &Mail{External: &External{URL: "http://example.org/x"}}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(&tc.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("case %d: got %v, want ErrMalformed", i, err)
			}
		})
	}
}

const (
	pre  = `<payload xmlns='urn:xmpp:openpgp:0'>`
	post = `</payload>`
	sum3 = `b35e09fa2ced9ebcad9d16336fb961146fe34bfbebc562679da85f8a314c9dca` // of "x\r\n"
	key  = `AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`
	iv   = `BAAAAAAAAAAAAAAA`
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		lim      Limits
		wantErr  error
		wantBody string
	}{
		{name: "whitespace in base64", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='3' sha256='" + sum3 + "'>\n eA\r\n0K \n</mail>" + post},
		{name: "unknown elements skipped", in: pre + "<x xmlns='urn:example'><y><z/></y></x><body xmlns='jabber:client'>hi</body>" + post, wantBody: "hi"},
		{name: "comment and PI", in: "<?xml version='1.0'?><!-- c -->" + pre + "<body xmlns='jabber:client'>a<!-- c -->b</body>" + post + "\n", wantBody: "ab"},
		{name: "first body wins", in: pre + "<body xmlns='jabber:client'>en</body><body xmlns='jabber:client' xml:lang='fr'>fr</body>" + post, wantBody: "en"},
		{name: "CR reference", in: pre + "<body xmlns='jabber:client'>a&#13;b</body>" + post, wantBody: "a\rb"},
		{name: "wrong root ns", in: "<payload><body/></payload>", wantErr: ErrMalformed},
		{name: "body in wrong ns", in: pre + "<body>x</body>" + post, wantBody: ""},
		{name: "doctype", in: "<!DOCTYPE payload [<!ENTITY a 'b'>]>" + pre + post, wantErr: ErrMalformed},
		{name: "undefined entity", in: pre + "<body xmlns='jabber:client'>&a;</body>" + post, wantErr: ErrMalformed},
		{name: "unclosed", in: pre + "<body xmlns='jabber:client'>x</body>", wantErr: ErrMalformed},
		{name: "mismatched", in: pre + "<body xmlns='jabber:client'>x</thread>" + post, wantErr: ErrMalformed},
		{name: "trailing element", in: pre + post + "<x/>", wantErr: ErrMalformed},
		{name: "element in body", in: pre + "<body xmlns='jabber:client'><b>x</b></body>" + post, wantErr: ErrMalformed},
		{name: "text in payload", in: pre + "stray" + post, wantErr: ErrMalformed},
		{name: "input too big", in: pre + strings.Repeat(" ", 100) + post, lim: Limits{MaxBytes: 64}, wantErr: ErrTooLarge},
		{name: "body too big", in: pre + "<body xmlns='jabber:client'>0123456789</body>" + post, lim: Limits{MaxTextBytes: 5}, wantErr: ErrTooLarge},
		{name: "too deep", in: pre + strings.Repeat("<x>", 40) + strings.Repeat("</x>", 40) + post, wantErr: ErrTooLarge},
		{name: "bad sha256", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='3' sha256='" + strings.Repeat("0", 64) + "'>eA0K</mail>" + post, wantErr: ErrIntegrity},
		{name: "bad size", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='2' sha256='" + sum3 + "'>eA0K</mail>" + post, wantErr: ErrIntegrity},
		{name: "size over limit", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='99999999999' sha256='" + sum3 + "'>eA0K</mail>" + post, wantErr: ErrTooLarge},
		{name: "negative size", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='-1' sha256='" + sum3 + "'>eA0K</mail>" + post, wantErr: ErrMalformed},
		{name: "bad base64", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='3' sha256='" + sum3 + "'>eA0*</mail>" + post, wantErr: ErrMalformed},
		{name: "unknown encoding", in: pre + "<mail xmlns='urn:passerelle:mail:0' encoding='zstd' size='3' sha256='" + sum3 + "'>eA0K</mail>" + post, wantErr: ErrUnsupported},
		{name: "two mails", in: pre + strings.Repeat("<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='3' sha256='"+sum3+"'>eA0K</mail>", 2) + post, wantErr: ErrMalformed},
		{name: "external", in: pre + "<mail xmlns='urn:passerelle:mail:0'><external url='https://h.example/f' size='3' sha256='" + sum3 + "' key='" + key + "' iv='" + iv + "'/></mail>" + post},
		{name: "external loopback http", in: pre + "<mail xmlns='urn:passerelle:mail:0'><external url='http://127.0.0.1:5280/f' size='3' sha256='" + sum3 + "' key='" + key + "' iv='" + iv + "'/></mail>" + post},
		{name: "external http", in: pre + "<mail xmlns='urn:passerelle:mail:0'><external url='http://h.example/f' size='3' sha256='" + sum3 + "' key='" + key + "' iv='" + iv + "'/></mail>" + post, wantErr: ErrMalformed},
		{name: "external short key", in: pre + "<mail xmlns='urn:passerelle:mail:0'><external url='https://h.example/f' size='3' sha256='" + sum3 + "' key='AAAA' iv='" + iv + "'/></mail>" + post, wantErr: ErrMalformed},
		{name: "external and text", in: pre + "<mail xmlns='urn:passerelle:mail:0'>eA0K<external url='https://h.example/f' size='3' sha256='" + sum3 + "' key='" + key + "' iv='" + iv + "'/></mail>" + post, wantErr: ErrMalformed},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in), tc.lim)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("case %d: got error %v, want %v", i, err, tc.wantErr)
			}
			if err == nil && p.Body != tc.wantBody {
				t.Errorf("case %d: body %q, want %q", i, p.Body, tc.wantBody)
			}
		})
	}
}

// TestBuildBase64Unchanged: the mail's base64 written straight into the
// buffer gives the same bytes as encoding/xml's escaping path.
func TestBuildBase64Unchanged(t *testing.T) {
	raw := bytes.Repeat([]byte("Line of mail text, caf\xc3\xa9 <&>.\r\n"), 300)
	p := &Payload{Subject: "S <&>", Body: "b", Mail: &Mail{Raw: raw, MessageID: "id@example.org"}}
	got, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Space: NSOpenPGP, Local: "payload"}}
	toks := append(appendText(appendText([]xml.Token{root}, "subject", p.Subject), "body", p.Body), appendMail(nil, p.Mail)...)
	for _, tk := range append(toks, root.End()) {
		if err := e.EncodeToken(tk); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("Build differs from the token encoding:\n got %.200q\nwant %.200q", got, buf.Bytes())
	}
	back, err := Parse(got, Limits{})
	if err != nil || !bytes.Equal(back.Mail.Raw, raw) {
		t.Fatalf("round trip: %v", err)
	}
}
