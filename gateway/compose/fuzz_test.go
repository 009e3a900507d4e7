package compose

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCompose: on any Subject, Text and Embedded, Compose never panics;
// it fails with a package sentinel or returns a message go-message reads,
// with CRLF lines of at most 998 octets, exactly one From (Input.From)
// and no injected field.
func FuzzCompose(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/mail/*.eml")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("", "", raw)
	}
	f.Add("", "", []byte(embeddedMail))
	f.Add("x\r\nBcc: v@e", "a\r.\n..\r\n.\r\n", []byte(nil))
	f.Add("=?UTF-8?Q?x=0D=0ABcc:_v@e?=", "", []byte("Subject: =?UTF-8?Q?x=0D=0ABcc:_v@e?=\r\n\r\nx"))
	f.Add("caf\xe9", "\xff\xfe", []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n"))
	lim := Limits{MaxDepth: 8, MaxParts: 64, MaxHeaderFields: 64, MaxHeaderBytes: 8192}
	f.Fuzz(func(t *testing.T, subject, text string, embedded []byte) {
		in := baseInput()
		in.Subject, in.Text, in.Limits = subject, text, lim
		if len(embedded) > 0 {
			in.Embedded = embedded
		}
		out, err := Compose(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		checkLines(t, out)
		checkNoInjection(t, out)
	})
}
