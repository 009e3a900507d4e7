package mime

import (
	"errors"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus in %s: %v", mailDir, err)
	}
	for _, file := range files {
		f.Add(readFile(f, file))
	}
	lim := Limits{MaxDepth: 8, MaxParts: 64, MaxHeaderBytes: 4096, MaxTextBytes: 4096}
	f.Fuzz(func(t *testing.T, raw []byte) {
		orig := string(raw)
		m, err := Parse(raw, lim)
		if string(raw) != orig {
			t.Fatal("Parse changed its input")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
		if !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) {
			t.Fatal("invalid UTF-8 in output")
		}
		if len(m.Text) > lim.MaxTextBytes+len(TruncationMarker) {
			t.Fatalf("text of %d bytes over the cap", len(m.Text))
		}
	})
}
