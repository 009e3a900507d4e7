package mime

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
)

// multipart walks the body parts of e (RFC 2046 §5.1) and combines their
// renditions.
func (w *walker) multipart(e *message.Entity, part string, depth int, mt string, params map[string]string) (rendition, error) {
	if params["boundary"] == "" {
		return rendition{}, newError(part, ErrMalformed, errors.New("multipart without boundary"))
	}
	def := "text/plain"
	if mt == "multipart/digest" { // RFC 2046 §5.1.5
		def = "message/rfc822"
	}
	mr := e.MultipartReader()
	var kids []rendition
	for i := 1; ; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		child := childPart(part, i)
		if err = w.recoverable(child, err); err != nil {
			return rendition{}, err
		}
		r, err := w.entity(p, child, depth+1, def)
		if err != nil {
			return rendition{}, err
		}
		kids = append(kids, r)
	}
	if len(kids) == 0 { // RFC 2046 §5.1.1: one or more body parts
		return rendition{}, newError(part, ErrMalformed, fmt.Errorf("%s without body parts", mt))
	}
	if mt == "multipart/alternative" {
		return chooseAlternative(kids), nil
	}
	return joinRenditions(kids), nil
}

// chooseAlternative prefers plain text for chat clients; otherwise it takes
// the last non-empty alternative, the richest one (RFC 2046 §5.1.4).
func chooseAlternative(kids []rendition) rendition {
	var best rendition
	for _, k := range kids {
		if strings.TrimSpace(k.text) == "" {
			continue
		}
		if !k.html {
			return k
		}
		best = k
	}
	return best
}

// joinRenditions concatenates the non-empty renditions of a mixed (or
// other) multipart, separated by a blank line.
func joinRenditions(kids []rendition) rendition {
	var out rendition
	var texts []string
	for _, k := range kids {
		if strings.TrimSpace(k.text) == "" {
			continue
		}
		texts = append(texts, k.text)
		out.html = out.html || k.html
		out.truncated = out.truncated || k.truncated
	}
	out.text = strings.Join(texts, "\n\n")
	return out
}
