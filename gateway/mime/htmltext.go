package mime

import (
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// text adds character data, collapsing white space outside <pre>.
func (t *htmlText) text(s string) {
	s = cleanText(s)
	if t.pre > 0 {
		t.flush()
		t.out.WriteString(s)
		return
	}
	if s != "" && unicode.IsSpace(rune(s[0])) {
		t.space = true
	}
	for i, f := range strings.Fields(s) {
		if i > 0 {
			t.space = true
		}
		t.word(f)
	}
	if s != "" && strings.TrimRightFunc(s, unicode.IsSpace) != s {
		t.space = true
	}
}

// word writes w after the line breaks or space it owes.
func (t *htmlText) word(w string) {
	t.flush()
	t.out.WriteString(w)
}

func (t *htmlText) flush() {
	switch {
	case t.out.b.Len() == 0:
	case t.breaks > 0:
		t.out.WriteString(strings.Repeat("\n", t.breaks))
	case t.space && !strings.HasSuffix(t.out.b.String(), "\n"):
		t.out.WriteString(" ")
	}
	t.breaks, t.space = 0, false
}

// safeURL keeps link targets a reader can follow without harm: http,
// https and mailto. Anything else (javascript:, data:, cid:) is dropped.
func safeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "mailto":
		return cleanLine(u.String())
	}
	return ""
}

func attr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

// textBuf accumulates text up to max bytes; full reports that it stopped.
type textBuf struct {
	b    strings.Builder
	max  int
	full bool
}

func (t *textBuf) WriteString(s string) {
	if t.full {
		return
	}
	if room := t.max - t.b.Len(); len(s) > room {
		s, t.full = cutUTF8(s, room), true
	}
	t.b.WriteString(s)
}
