package mime

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden/mime")

const (
	mailDir   = "../../testdata/mail"
	goldenDir = "../../testdata/golden/mime"
)

// golden is what a golden file records for one message.
type golden struct {
	Message *Message `json:",omitempty"`
	Error   string   `json:",omitempty"`
}

func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test mail in %s: %v", mailDir, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw := readFile(t, f)
			m, err := Parse(raw, Limits{})
			g := golden{Message: m}
			if err != nil {
				g.Error = err.Error()
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(goldenDir, name+".json"), append(got, '\n'))
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readFile(t, path)
	if string(got) != string(want) {
		t.Errorf("%s differs (run go test -update):\n got: %s\nwant: %s", path, got, want)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		file     string
		lim      Limits
		wantKind error
		wantPart string
	}{
		{file: "deep-bomb.eml", wantKind: ErrTooDeep, wantPart: strings.Repeat("1.", 20) + "1"},
		{file: "bad-base64.eml", wantKind: ErrMalformed, wantPart: "2"},
		{file: "no-boundary.eml", wantKind: ErrMalformed},
		{file: "unterminated.eml", wantKind: ErrMalformed, wantPart: "1"},
		{file: "bad-header.eml", wantKind: ErrMalformed},
		{file: "nested.eml", lim: Limits{MaxDepth: 2}, wantKind: ErrTooDeep, wantPart: "1.2.1"},
		{file: "nested.eml", lim: Limits{MaxParts: 4}, wantKind: ErrTooManyParts, wantPart: "1.2.1"},
		{file: "plain.eml", lim: Limits{MaxHeaderBytes: 100}, wantKind: ErrHeaderTooBig},
	}
	for i, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Parse(readFile(t, filepath.Join(mailDir, tc.file)), tc.lim)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("case %d: got %v (%T), want *Error", i, err, err)
			}
			if !errors.Is(err, tc.wantKind) || e.Part != tc.wantPart {
				t.Errorf("case %d: got kind %v part %q, want %v part %q", i, e.Kind, e.Part, tc.wantKind, tc.wantPart)
			}
		})
	}
}

func TestPartHeaderTooBig(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"X-Big: " + strings.Repeat("x", 300) + "\r\n\r\nbody\r\n--b--\r\n"
	_, err := Parse([]byte(raw), Limits{MaxHeaderBytes: 200})
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrHeaderTooBig || e.Part != "1" {
		t.Fatalf("got %v, want ErrHeaderTooBig in part 1", err)
	}
}

func TestParseKeepsInput(t *testing.T) {
	raw := readFile(t, filepath.Join(mailDir, "nested.eml"))
	orig := string(raw)
	if _, err := Parse(raw, Limits{}); err != nil {
		t.Fatal(err)
	}
	if string(raw) != orig {
		t.Fatal("Parse changed its input")
	}
}

func TestTruncation(t *testing.T) {
	body := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		name, ctype string
		max         int
		wantText    string
		wantTrunc   bool
	}{
		{"plain fits", "text/plain; charset=utf-8", 200, body, false},
		{"plain cut mid-rune", "text/plain; charset=utf-8", 11, strings.Repeat("é", 5) + TruncationMarker, true},
		{"html cut", "text/html; charset=utf-8", 10, strings.Repeat("é", 5) + TruncationMarker, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "Content-Type: " + tc.ctype + "\r\n\r\n" + body + "\r\n"
			m, err := Parse([]byte(raw), Limits{MaxTextBytes: tc.max})
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if m.Text != tc.wantText || m.Truncated != tc.wantTrunc {
				t.Errorf("case %d: got %q %v, want %q %v", i, m.Text, m.Truncated, tc.wantText, tc.wantTrunc)
			}
		})
	}
}
