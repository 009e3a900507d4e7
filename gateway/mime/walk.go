package mime

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
)

// walker holds the state of one Parse call.
type walker struct {
	lim   Limits
	parts int
	msg   *Message
	// each, if set, is given every attachment with its decoded content.
	each func(Attachment, []byte) error
}

// rendition is the text an entity contributes to Message.Text.
type rendition struct {
	text      string
	html      bool // rendered from HTML
	truncated bool
}

// recoverable turns go-message's unknown charset or transfer encoding
// errors into warnings (the entity is still readable) and any other error
// into an *Error.
func (w *walker) recoverable(part string, err error) error {
	if err == nil {
		return nil
	}
	if message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
		w.warn(partName(part), err)
		return nil
	}
	return newError(part, ErrMalformed, err)
}

// entity renders e, found at depth, or records it as an attachment.
// def is the media type of an entity without Content-Type (RFC 2045 §5.2,
// RFC 2046 §5.1.5).
func (w *walker) entity(e *message.Entity, part string, depth int, def string) (rendition, error) {
	if err := w.admit(e, part, depth); err != nil {
		return rendition{}, err
	}
	mt, params, err := w.mediaType(e, part, def)
	if err != nil {
		return rendition{}, err
	}
	if strings.HasPrefix(mt, "multipart/") {
		return w.multipart(e, part, depth, mt, params)
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	disp = strings.ToLower(disp)
	if disp != "attachment" && (mt == "text/plain" || mt == "text/html") {
		return w.text(e, part, mt == "text/html")
	}
	name := dparams["filename"] // RFC 2183 §2.3
	if name == "" {
		name = params["name"]
	}
	return rendition{}, w.attachment(e, part, mt, name, disp == "inline")
}

// admit counts e against MaxParts and checks its depth and header size.
func (w *walker) admit(e *message.Entity, part string, depth int) error {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return newError(part, ErrTooManyParts, fmt.Errorf("more than %d", w.lim.MaxParts))
	}
	if depth > w.lim.MaxDepth {
		return newError(part, ErrTooDeep, fmt.Errorf("more than %d levels", w.lim.MaxDepth))
	}
	if n := headerSize(e.Header); n > w.lim.MaxHeaderBytes {
		return newError(part, ErrHeaderTooBig, fmt.Errorf("%d bytes", n))
	}
	return nil
}

// mediaType returns the lower-case media type of e. An unparsable
// Content-Type is text/plain (RFC 2045 §5.2) unless it claims multipart,
// whose structure cannot be recovered.
func (w *walker) mediaType(e *message.Entity, part, def string) (string, map[string]string, error) {
	raw := e.Header.Get("Content-Type")
	if strings.TrimSpace(raw) == "" {
		return def, nil, nil
	}
	mt, params, err := e.Header.ContentType()
	if err == nil {
		return strings.ToLower(mt), params, nil
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(raw)), "multipart/") {
		return "", nil, newError(part, ErrMalformed, fmt.Errorf("content-type: %w", err))
	}
	w.warn(partName(part), fmt.Errorf("content-type: %w", err))
	return "text/plain", nil, nil
}

// text renders a text/plain or text/html leaf.
func (w *walker) text(e *message.Entity, part string, html bool) (rendition, error) {
	var (
		s         string
		truncated bool
		err       error
	)
	if html {
		s, truncated, err = renderHTML(e.Body, w.lim.MaxTextBytes)
	} else {
		s, truncated, err = readPlain(e.Body, w.lim.MaxTextBytes)
	}
	if err != nil {
		return rendition{}, newError(part, ErrMalformed, err)
	}
	if _, err := io.Copy(io.Discard, e.Body); err != nil {
		return rendition{}, newError(part, ErrMalformed, err)
	}
	return rendition{text: s, html: html, truncated: truncated}, nil
}

// attachment reads e to its end, which checks its transfer encoding, and
// records its summary.
func (w *walker) attachment(e *message.Entity, part, mt, name string, inline bool) error {
	var buf bytes.Buffer
	dst := io.Discard
	if w.each != nil {
		dst = &buf
	}
	n, err := io.Copy(dst, e.Body)
	if err != nil {
		return newError(part, ErrMalformed, err)
	}
	a := Attachment{
		Part:        partOrRoot(part),
		Filename:    cleanLine(name),
		ContentType: cleanLine(mt),
		Size:        n,
		Inline:      inline,
	}
	w.msg.Attachments = append(w.msg.Attachments, a)
	if w.each != nil {
		return w.each(a, buf.Bytes())
	}
	return nil
}

func childPart(parent string, i int) string {
	if parent == "" {
		return strconv.Itoa(i)
	}
	return parent + "." + strconv.Itoa(i)
}

func partName(part string) string {
	return "part " + partOrRoot(part)
}

// partOrRoot names the top-level entity "0".
func partOrRoot(part string) string {
	if part == "" {
		return "0"
	}
	return part
}
