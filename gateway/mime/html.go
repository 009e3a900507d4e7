package mime

import (
	"errors"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// isSkipped reports elements whose content is never shown. Nothing is
// fetched, so scripts, styles, frames and embedded objects are dropped.
func isSkipped(a atom.Atom) bool {
	switch a {
	case atom.Head, atom.Title, atom.Script, atom.Style, atom.Template,
		atom.Noscript, atom.Iframe, atom.Object, atom.Embed, atom.Svg,
		atom.Math, atom.Noembed, atom.Noframes, atom.Audio, atom.Video,
		atom.Canvas, atom.Select:
		return true
	}
	return false
}

// breaksAfter is the number of line breaks around a block element: a
// blank line for paragraphs, one break for other blocks.
func breaksAfter(a atom.Atom) int {
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Pre, atom.Ul, atom.Ol, atom.Table, atom.Dl,
		atom.Hr, atom.Figure:
		return 2
	case atom.Div, atom.Tr, atom.Li, atom.Dt, atom.Dd, atom.Section,
		atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Aside,
		atom.Main, atom.Form, atom.Fieldset, atom.Address, atom.Figcaption,
		atom.Center, atom.Caption:
		return 1
	}
	return 0
}

// renderHTML converts an HTML body to text for a chat client: entities
// decoded, whitespace collapsed, block structure kept as line breaks, link
// targets shown as "text <url>". It stops after max bytes of text.
func renderHTML(r io.Reader, max int) (string, bool, error) {
	z := html.NewTokenizer(r)
	t := &htmlText{out: textBuf{max: max}}
	for !t.out.full {
		tt := z.Next()
		if tt == html.ErrorToken {
			if err := z.Err(); !errors.Is(err, io.EOF) {
				return "", false, err
			}
			break
		}
		t.token(tt, z.Token())
	}
	return t.out.b.String(), t.out.full, nil
}

// htmlText accumulates the rendition of one HTML document.
type htmlText struct {
	out       textBuf
	skip      atom.Atom // element whose content is being dropped
	skipDepth int
	pre       int      // depth inside <pre>
	links     []string // targets of the open <a> elements
	linkStart []int    // output length when each <a> opened
	breaks    int      // line breaks owed before the next word
	space     bool     // a space is owed before the next word
}

func (t *htmlText) token(tt html.TokenType, tok html.Token) {
	if t.skipDepth > 0 {
		t.skipping(tt, tok)
		return
	}
	switch tt {
	case html.TextToken:
		t.text(tok.Data)
	case html.StartTagToken:
		t.start(tok)
	case html.SelfClosingTagToken:
		if !isSkipped(tok.DataAtom) {
			t.start(tok)
			t.end(tok.DataAtom)
		}
	case html.EndTagToken:
		t.end(tok.DataAtom)
	}
}

// skipping follows nesting of the dropped element; <body> also ends an
// unclosed <head>.
func (t *htmlText) skipping(tt html.TokenType, tok html.Token) {
	switch {
	case tt == html.StartTagToken && tok.DataAtom == atom.Body && t.skip == atom.Head:
		t.skipDepth = 0
	case tt == html.StartTagToken && tok.DataAtom == t.skip:
		t.skipDepth++
	case tt == html.EndTagToken && tok.DataAtom == t.skip:
		t.skipDepth--
	}
}

func (t *htmlText) start(tok html.Token) {
	a := tok.DataAtom
	switch {
	case isSkipped(a):
		t.skip, t.skipDepth = a, 1
	case a == atom.Br:
		t.breaks = min(t.breaks+1, 2)
	case a == atom.A:
		t.links = append(t.links, safeURL(attr(tok, "href")))
		t.linkStart = append(t.linkStart, t.out.b.Len())
	case a == atom.Img:
		if alt := strings.TrimSpace(attr(tok, "alt")); alt != "" {
			t.text("[" + alt + "]")
		}
	case a == atom.Td || a == atom.Th:
		t.space = true
	}
	t.block(a)
	if a == atom.Pre {
		t.pre++
	}
	if a == atom.Li {
		t.word("-")
		t.space = true
	}
	if a == atom.Hr {
		t.word("----")
		t.block(a)
	}
}

func (t *htmlText) end(a atom.Atom) {
	if a == atom.A && len(t.links) > 0 {
		t.closeLink()
	}
	if a == atom.Pre && t.pre > 0 {
		t.pre--
	}
	t.block(a)
}

// closeLink shows the target of the closing <a> after its text, unless the
// text already is the target.
func (t *htmlText) closeLink() {
	n := len(t.links) - 1
	target, start := t.links[n], t.linkStart[n]
	t.links, t.linkStart = t.links[:n], t.linkStart[:n]
	if target == "" {
		return
	}
	shown := strings.TrimSpace(t.out.b.String()[min(start, t.out.b.Len()):])
	if shown == target || "mailto:"+shown == target {
		return
	}
	t.space = shown != ""
	t.word("<" + target + ">")
}

func (t *htmlText) block(a atom.Atom) {
	t.breaks = max(t.breaks, breaksAfter(a))
}
