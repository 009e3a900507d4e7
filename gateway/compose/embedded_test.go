package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const embeddedMail = "Return-Path: <spoof@evil.example>\r\n" +
	"Received: from evil.example by mx.example.net; Tue, 3 Jun 2025 10:00:00 +0000\r\n" +
	"DKIM-Signature: v=1; a=rsa-sha256; d=evil.example; b=abc\r\n" +
	"Autocrypt: addr=spoof@evil.example; keydata=AAAA\r\n" +
	"From: Mallory <spoof@evil.example>\r\n" +
	"Sender: spoof@evil.example\r\n" +
	"Reply-To: spoof@evil.example\r\n" +
	"To: someone-else@example.com\r\n" +
	"Cc: =?UTF-8?Q?Carol_=C3=A9?= <carol@example.net>,\r\n dave@example.net\r\n" +
	"Cc: not an address,,\r\n" +
	"Bcc: hidden@example.com\r\n" +
	"Resent-From: spoof@evil.example\r\n" +
	"Resent-To: other@example.com\r\n" +
	"Subject: =?UTF-8?Q?Caf=C3=A9?= report\r\n" +
	"Date: Mon, 02 Jun 2025 09:00:00 +0000\r\n" +
	"Message-ID: <orig-1@client.example.org>\r\n" +
	"In-Reply-To: <parent@example.net>\r\n" +
	"References: <root@example.net>\r\n <parent@example.net>\r\n" +
	"X-Mailer: Gajim\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Caf=E9 au lait\r\n" +
	".\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"X-Part-Junk: dropped\r\n" +
	"\r\n" +
	"<p>Caf\xc3\xa9 <b>au lait</b></p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream; name=\"r\xc3\xa9sum\xc3\xa9.bin\"\r\n" +
	"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAEC Aw0K\r\n" +
	"DQoK/w==\r\n" +
	"--outer--\r\n"

func embeddedInput(raw string) Input {
	in := baseInput()
	in.Subject, in.Text = "", ""
	in.Embedded = []byte(raw)
	return in
}

func TestComposeEmbedded(t *testing.T) {
	in := embeddedInput(embeddedMail)
	in.Date = time.Time{} // the embedded Date is kept
	out := mustCompose(t, in)
	h := header(t, out)
	for _, k := range []string{"Return-Path", "Received", "Dkim-Signature", "Autocrypt", "Sender",
		"Reply-To", "Bcc", "Resent-From", "Resent-To"} {
		if h.Has(k) {
			t.Errorf("%s kept: %q", k, h.Get(k))
		}
	}
	want := map[string]string{
		"From":        `"Alice Liddell" <alice@example.org>`,
		"To":          "<bob@example.net>",
		"Cc":          "=?utf-8?q?Carol_=C3=A9?= <carol@example.net>, <dave@example.net>",
		"Date":        "Mon, 02 Jun 2025 09:00:00 +0000",
		"Message-Id":  "<orig-1@client.example.org>",
		"In-Reply-To": "<parent@example.net>",
		"References":  "<root@example.net> <parent@example.net>",
		"X-Mailer":    "Gajim",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := decodedSubject(t, out); got != "Café report" {
		t.Errorf("Subject = %q", got)
	}
	ls := leaves(t, out)
	if len(ls) != 3 {
		t.Fatalf("%d leaves", len(ls))
	}
	// go-message converts iso-8859-1 to UTF-8 when reading: the charset
	// and bytes were kept.
	if ls[0].typ != "text/plain" || ls[0].params["charset"] != "iso-8859-1" || string(ls[0].body) != "Café au lait\r\n.\r\n" {
		t.Errorf("text part %s %v %q", ls[0].typ, ls[0].params, ls[0].body)
	}
	if ls[1].typ != "text/html" || string(ls[1].body) != "<p>Café <b>au lait</b></p>\r\n" || ls[1].h.Has("X-Part-Junk") {
		t.Errorf("html part %s %q %v", ls[1].typ, ls[1].body, ls[1].h.Map())
	}
	_, dp, _ := ls[2].h.ContentDisposition()
	if ls[2].typ != "application/octet-stream" || dp["filename"] != "résumé.bin" ||
		!bytes.Equal(ls[2].body, []byte("\x00\x01\x02\x03\r\n\r\n\n\xff")) {
		t.Errorf("attachment %s %v %q", ls[2].typ, dp, ls[2].body)
	}
	if bytes.Contains(out, []byte("preamble")) || bytes.Contains(out, []byte("boundary=inner")) {
		t.Errorf("preamble or old boundary kept")
	}
}

func TestComposeEmbeddedInputWins(t *testing.T) {
	in := embeddedInput(embeddedMail)
	in.Subject = "From XMPP"
	in.MessageID = "new@example.org"
	in.InReplyTo = "other@example.net"
	in.Date = testDate
	h := header(t, mustCompose(t, in))
	if h.Get("Message-Id") != "<new@example.org>" || h.Get("In-Reply-To") != "<other@example.net>" ||
		h.Get("References") != "<other@example.net>" || h.Get("Date") != "Tue, 03 Jun 2025 10:15:00 +0200" {
		t.Errorf("header %v", h.Map())
	}
	if h.Get("Subject") != "From XMPP" {
		t.Errorf("Subject %q", h.Get("Subject"))
	}
}

func TestComposeEmbeddedBareNewlines(t *testing.T) {
	raw := "Subject: s\nContent-Type: text/plain\n\nline1\nline2\rline3\r\n.\n"
	ls := leaves(t, mustCompose(t, embeddedInput(raw)))
	if string(ls[0].body) != "line1\r\nline2\r\nline3\r\n.\r\n" {
		t.Errorf("body %q", ls[0].body)
	}
}

func TestComposeEmbeddedLFMultipart(t *testing.T) {
	raw := "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\none\ntwo\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n"
	ls := leaves(t, mustCompose(t, embeddedInput(raw)))
	if len(ls) != 2 || string(ls[0].body) != "one\r\ntwo\r\n" || string(ls[1].body) != "<p>x</p>\r\n" {
		t.Errorf("leaves %+v", ls)
	}
}

func TestComposeEmbeddedBinaryKept(t *testing.T) {
	bin := "\r\x00\n\r\n\x80" + strings.Repeat("y", 1500)
	raw := "Content-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n" + bin
	ls := leaves(t, mustCompose(t, embeddedInput(raw)))
	if string(ls[0].body) != bin || ls[0].h.Get("Content-Transfer-Encoding") != "base64" {
		t.Errorf("binary body %q", ls[0].body)
	}
}

func TestComposeEmbeddedLimits(t *testing.T) {
	var deep string
	for i := range 30 {
		deep += fmt.Sprintf("Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	tests := []struct {
		name string
		raw  string
		lim  Limits
		want error
	}{
		{"size", "Subject: x\r\n\r\nbody", Limits{MaxEmbeddedBytes: 10}, ErrTooLarge},
		{"depth", deep, Limits{}, ErrTooLarge},
		{"fields", strings.Repeat("X-A: b\r\n", 20) + "\r\n", Limits{MaxHeaderFields: 10}, ErrTooLarge},
		{"header bytes", "X-A: " + strings.Repeat("b ", 100) + "\r\n\r\n", Limits{MaxHeaderBytes: 100}, ErrTooLarge},
		{"parts", "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 5) + "--b--\r\n", Limits{MaxParts: 3}, ErrTooLarge},
		{"no boundary", "Content-Type: multipart/mixed\r\n\r\nx", Limits{}, ErrMalformed},
		{"unterminated", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n", Limits{}, ErrMalformed},
		{"bad base64", "Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n", Limits{}, ErrMalformed},
		{"unknown encoding", "Content-Transfer-Encoding: x-uue\r\n\r\nbegin\r\n", Limits{}, ErrMalformed},
		{"bad header", " leading space\r\n\r\n", Limits{}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := embeddedInput(tc.raw)
			in.Limits = tc.lim
			_, err := Compose(in)
			wantErr(t, err, tc.want)
		})
	}
}

// TestComposeTestdata runs the shared corpus: every mail composes, or is
// refused as malformed or too large.
func TestComposeTestdata(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/mail/*.eml")
	if len(files) == 0 {
		t.Fatal("no testdata/mail/*.eml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Compose(embeddedInput(string(raw)))
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v", err)
				}
				t.Logf("refused: %v", err)
				return
			}
			checkLines(t, out)
			leaves(t, out)
			if got := fromAddresses(t, out); len(got) != 1 || got[0] != testFrom.Address {
				t.Errorf("From = %v", got)
			}
		})
	}
}

func TestComposeLongFields(t *testing.T) {
	long := strings.Repeat("z", 3000)
	raw := "X-Long: " + long + "\r\nSubject: " + strings.Repeat("w", 3000) + "\r\n" +
		"Content-Type: application/octet-stream; name=\"" + strings.Repeat("n", 2000) + "\"\r\n\r\nx\r\n"
	out := mustCompose(t, embeddedInput(raw)) // checkLines: no line over 998
	h := header(t, out)
	if got := strings.ReplaceAll(h.Get("X-Long"), " ", ""); got != long {
		t.Errorf("X-Long changed beyond folding: %d bytes", len(got))
	}
	in := baseInput()
	in.Subject = strings.Repeat("é", 2000)
	if got := decodedSubject(t, mustCompose(t, in)); got != strings.Repeat("é", maxSubjectBytes/2) {
		t.Errorf("subject of %d bytes", len(got))
	}
}

// TestComposeEmbeddedLargeBinary: binary leaves around streamMin come out
// byte-exact; one over it is streamed, always as base64 (even when it
// would pass as 7bit), with lines of 76 characters.
func TestComposeEmbeddedLargeBinary(t *testing.T) {
	for i, tc := range []struct {
		size    int
		ascii   bool
		wantCTE string
	}{
		{streamMin, true, "7bit"},
		{streamMin + 1, true, "base64"},
		{streamMin + 1, false, "base64"},
		{3*streamMin + 57*1024 + 5, false, "base64"},
	} {
		bin := make([]byte, tc.size)
		if tc.ascii {
			copy(bin, bytes.Repeat([]byte(strings.Repeat("z", 70)+"\r\n"), tc.size/72+1))
			copy(bin[tc.size-2:], "\r\n") // short CRLF lines: 7bit if held whole
		} else {
			rand.Read(bin)
		}
		enc := base64.StdEncoding.EncodeToString(bin)
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nhi\r\n--q\r\n" +
			"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n--q--\r\n")
		out := mustCompose(t, embeddedInput(b.String()))
		ls := leaves(t, out)
		if len(ls) != 2 || !bytes.Equal(ls[1].body, bin) {
			t.Fatalf("%d: size %d: attachment not byte-exact", i, tc.size)
		}
		if got := ls[1].h.Get("Content-Transfer-Encoding"); got != tc.wantCTE {
			t.Errorf("%d: size %d: Content-Transfer-Encoding %q, want %q", i, tc.size, got, tc.wantCTE)
		}
		for _, line := range bytes.Split(out, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("%d: a line of %d octets", i, len(line))
			}
		}
	}
}
