package compose

import (
	"bytes"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestComposeText(t *testing.T) {
	long := strings.Repeat("x", 1200)
	tests := []struct {
		name     string
		text     string
		wantBody string
		wantCTE  string
	}{
		{"plain", "Hi Bob.\n", "Hi Bob.\r\n", "7bit"},
		{"no final newline", "Hi", "Hi\r\n", "7bit"},
		{"empty", "", "", "7bit"},
		{"dots", ".\n..\r\n.\r\nend", ".\r\n..\r\n.\r\nend\r\n", "7bit"},
		{"smtp terminator", "a\r\n.\r\nRCPT TO:<x@y>\r\n", "a\r\n.\r\nRCPT TO:<x@y>\r\n", "7bit"},
		{"bare cr", "a\rb\r\rc", "a\r\nb\r\n\r\nc\r\n", "7bit"},
		{"bare lf", "a\nb\n\nc", "a\r\nb\r\n\r\nc\r\n", "7bit"},
		{"cr cr lf", "a\r\r\nb", "a\r\n\r\nb\r\n", "7bit"},
		{"utf-8", "Café ☕\n", "Café ☕\r\n", "quoted-printable"},
		{"long line", long, long + "\r\n", "quoted-printable"},
		{"nul and esc", "a\x00b\x1bc", "a\x00b\x1bc\r\n", "quoted-printable"},
		{"trailing space", "a \nb\t\n", "a \r\nb\t\r\n", "7bit"},
		{"from line", "From me\n>From you\n", "From me\r\n>From you\r\n", "7bit"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			in.Text = tc.text
			out := mustCompose(t, in)
			ls := leaves(t, out)
			if len(ls) != 1 {
				t.Fatalf("%d: %d leaves", i, len(ls))
			}
			l := ls[0]
			if l.typ != "text/plain" || l.params["charset"] != "utf-8" {
				t.Errorf("Content-Type %s %v", l.typ, l.params)
			}
			if got := l.h.Get("Content-Transfer-Encoding"); got != tc.wantCTE {
				t.Errorf("CTE = %q, want %q", got, tc.wantCTE)
			}
			if string(l.body) != tc.wantBody {
				t.Errorf("body = %q, want %q", l.body, tc.wantBody)
			}
		})
	}
}

func TestComposeHeader(t *testing.T) {
	in := baseInput()
	in.Subject = "Grüße, ☕ and more"
	in.To = []mail.Address{{Name: "Bob", Address: "bob@example.net"}, {Address: "carol@example.net"}}
	in.MessageID = "<id-1@example.org>"
	out := mustCompose(t, in)
	h := header(t, out)
	want := map[string]string{
		"Date":         "Tue, 03 Jun 2025 10:15:00 +0200",
		"From":         `"Alice Liddell" <alice@example.org>`,
		"To":           `"Bob" <bob@example.net>, <carol@example.net>`,
		"Message-Id":   "<id-1@example.org>",
		"Mime-Version": "1.0",
		"Content-Type": "text/plain; charset=utf-8",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := decodedSubject(t, out); got != in.Subject {
		t.Errorf("Subject decodes to %q", got)
	}
	if !strings.Contains(string(out), "Subject: =?utf-8?q?") {
		t.Errorf("subject not RFC 2047 encoded:\n%s", out)
	}
	var names []string
	for f := h.Fields(); f.Next(); {
		names = append(names, f.Key())
	}
	if got := strings.Join(names, " "); got != "Date From To Subject Message-Id Mime-Version Content-Type Content-Transfer-Encoding" {
		t.Errorf("field order %s", got)
	}
}

func decodedSubject(t testing.TB, raw []byte) string {
	t.Helper()
	for _, f := range decodedFields(t, raw) {
		if s, ok := strings.CutPrefix(f, "Subject: "); ok {
			return s
		}
	}
	return ""
}

func TestComposeMessageID(t *testing.T) {
	re := regexp.MustCompile(`^<[a-z2-7]{26}@(example\.org|mx\.example\.org)>$`)
	in := baseInput()
	a := header(t, mustCompose(t, in)).Get("Message-Id")
	b := header(t, mustCompose(t, in)).Get("Message-Id")
	if !re.MatchString(a) || a == b || !strings.HasSuffix(a, "@example.org>") {
		t.Errorf("generated ids %q %q", a, b)
	}
	in.Hostname = "mx.example.org"
	if c := header(t, mustCompose(t, in)).Get("Message-Id"); !strings.HasSuffix(c, "@mx.example.org>") {
		t.Errorf("id with hostname %q", c)
	}
	in.Hostname = "bad host"
	_, err := Compose(in)
	wantErr(t, err, ErrInvalidInput)
}

func TestComposeDateDefault(t *testing.T) {
	in := baseInput()
	in.Date = time.Time{}
	d, err := mail.ParseDate(header(t, mustCompose(t, in)).Get("Date"))
	if err != nil || time.Since(d) > time.Minute {
		t.Errorf("date %v %v", d, err)
	}
}

func TestComposeThreading(t *testing.T) {
	tests := []struct {
		name                   string
		inReplyTo, thread      string
		refs                   []string
		wantInReplyTo, wantRef string
	}{
		{"none", "", "", nil, "", ""},
		{"reply only", "p@x.org", "", nil, "<p@x.org>", "<p@x.org>"},
		{"reply and refs", "<p@x.org>", "", []string{"r@x.org", "<p@x.org>"}, "<p@x.org>", "<r@x.org> <p@x.org>"},
		{"thread root", "p@x.org", "r@x.org", []string{"p@x.org"}, "<p@x.org>", "<r@x.org> <p@x.org>"},
		{"thread not an id", "p@x.org", "5b3c-thread", nil, "<p@x.org>", "<p@x.org>"},
		{"invalid ids dropped", "bad id", "", []string{"a@b", "x\r\nBcc: v@e", "<>"}, "", "<a@b>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			in.InReplyTo, in.Thread, in.References = tc.inReplyTo, tc.thread, tc.refs
			h := header(t, mustCompose(t, in))
			if got := h.Get("In-Reply-To"); got != tc.wantInReplyTo {
				t.Errorf("In-Reply-To = %q, want %q", got, tc.wantInReplyTo)
			}
			if got := h.Get("References"); got != tc.wantRef {
				t.Errorf("References = %q, want %q", got, tc.wantRef)
			}
		})
	}
}

func TestComposeReferencesCapped(t *testing.T) {
	in := baseInput()
	for i := range 200 {
		in.References = append(in.References, strings.Repeat("r", 40)+string(rune('a'+i%26))+"@example.org"+strings.Repeat("x", i))
	}
	h := header(t, mustCompose(t, in))
	if n := strings.Count(h.Get("References"), "<"); n != maxReferences {
		t.Errorf("%d references", n)
	}
}

func TestComposeInvalid(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Input)
	}{
		{"no from", func(in *Input) { in.From = mail.Address{} }},
		{"from with crlf", func(in *Input) { in.From.Address = "a@b\r\nBcc: v@e" }},
		{"from two addresses", func(in *Input) { in.From.Address = "a@b, c@d" }},
		{"no to", func(in *Input) { in.To = nil }},
		{"bad to", func(in *Input) { in.To = []mail.Address{{Address: "bob"}} }},
		{"bad message-id", func(in *Input) { in.MessageID = "<a b@c>" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.mod(&in)
			_, err := Compose(in)
			wantErr(t, err, ErrInvalidInput)
		})
	}
}

func TestComposeDisplayNameClean(t *testing.T) {
	in := baseInput()
	in.From.Name = "Eve\r\nBcc: victim@example.com"
	out := mustCompose(t, in)
	if bytes.Contains(bytes.ToLower(out), []byte("\r\nbcc:")) {
		t.Fatalf("injected Bcc:\n%s", out)
	}
	if got := fromAddresses(t, out); len(got) != 1 || got[0] != "alice@example.org" {
		t.Errorf("From = %v", got)
	}
}

func TestComposeAutocrypt(t *testing.T) {
	key := newKey(t, "Alice", "alice@example.org")
	in := baseInput()
	in.AutocryptKey, in.AutocryptMutual = key, true
	checkAutocrypt(t, header(t, mustCompose(t, in)).Get("Autocrypt"), key)
}
