package mime

import (
	"bytes"
	"fmt"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets beyond UTF-8 and US-ASCII
	"github.com/emersion/go-message/mail"
)

// Address is one mailbox of an address list (RFC 5322 §3.4), with its
// display name decoded (RFC 2047).
type Address struct {
	Name string
	Addr string
}

// Attachment summarises an entity that is not part of the text rendition.
type Attachment struct {
	Part        string // IMAP-style section number, e.g. "2" or "1.3"
	Filename    string // decoded (RFC 2231, RFC 2047); may be empty
	ContentType string // lower-case media type, e.g. "application/pdf"
	Size        int64  // decoded size in bytes
	Inline      bool   // Content-Disposition: inline (RFC 2183)
}

// Message is the neutral view of a mail that the XMPP side needs.
type Message struct {
	Subject    string
	From       []Address
	To         []Address
	Cc         []Address
	Date       time.Time // zero if absent or unparsable
	MessageID  string    // without angle brackets
	InReplyTo  []string  // without angle brackets
	References []string  // without angle brackets

	// Text is the rendition for chat clients: the text/plain part when
	// there is one, otherwise HTML rendered to safe text. Lines end in LF.
	Text string
	// Truncated reports that Text was cut at Limits.MaxTextBytes.
	Truncated bool

	Attachments []Attachment

	// Warnings lists recoverable problems (unknown charset, unparsable
	// Date, ...) for the log; they never carry body content.
	Warnings []string
}

// Parse reads raw, a complete RFC 5322 message, within lim. Every error is
// an *Error. raw is only read.
func Parse(raw []byte, lim Limits) (*Message, error) { return parse(raw, lim, nil) }

// ParseAttachments is Parse that also hands each attachment, decoded, to
// each (in message order); an error from each stops the parse.
func ParseAttachments(raw []byte, lim Limits, each func(Attachment, []byte) error) (*Message, error) {
	return parse(raw, lim, each)
}

func parse(raw []byte, lim Limits, each func(Attachment, []byte) error) (*Message, error) {
	lim = lim.withDefaults()
	if headerTooBig(raw, lim.MaxHeaderBytes) {
		return nil, newError("", ErrHeaderTooBig, fmt.Errorf("no end of header within %d bytes", lim.MaxHeaderBytes))
	}
	w := &walker{lim: lim, msg: &Message{}, each: each}
	e, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: -1})
	if err = w.recoverable("", err); err != nil {
		return nil, err
	}
	w.readHeader(mail.Header{Header: e.Header})
	r, err := w.entity(e, "", 0, "text/plain")
	if err != nil {
		return nil, err
	}
	w.msg.Text, w.msg.Truncated = finishText(r.text, lim.MaxTextBytes, r.truncated)
	return w.msg, nil
}

// headerTooBig reports whether the top-level header block, blank line
// included, is longer than max. It looks at no more than max bytes.
func headerTooBig(raw []byte, max int) bool {
	if len(raw) <= max {
		return false
	}
	prefix := raw[:max]
	return !bytes.Contains(prefix, []byte("\r\n\r\n")) && !bytes.Contains(prefix, []byte("\n\n"))
}
