package compose

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message/textproto"
)

// dateLayout is RFC 5322 §3.3 date-time.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// Input is what the reverse path knows about one outgoing mail.
type Input struct {
	// From is the directory address of the authenticated XMPP sender. It
	// is the only From of the output, whatever Embedded says.
	From mail.Address
	// To is the puppet's email address (the XMPP addressing decides the
	// recipients); it replaces any To of Embedded.
	To []mail.Address
	// Subject, when not empty, wins over Embedded's. Control characters
	// become spaces; it is cut at 900 bytes.
	Subject string
	// Text is the body (text/plain; charset=utf-8) when Embedded is nil.
	// Every CRLF, lone CR and lone LF becomes one CRLF line break.
	Text string
	// Thread is the XMPP <thread>. When it is a valid msg-id it becomes
	// the root of References (the forward path uses the thread root's
	// Message-ID as thread); otherwise it is ignored.
	Thread string
	// InReplyTo and References are msg-ids, with or without angle
	// brackets; the caller maps the XMPP thread to the mail replied to.
	// Invalid ids are dropped. Empty: Embedded's are kept.
	InReplyTo  string
	References []string
	// Date, when zero, is Embedded's Date or else the current time.
	Date time.Time
	// MessageID, when empty, is Embedded's or else "<random@Hostname>".
	MessageID string
	// Hostname is the right side of generated Message-IDs; empty means
	// the domain of From.
	Hostname string
	// Embedded is a full RFC 5322 message from <mail
	// xmlns='urn:passerelle:mail:0'>, or nil.
	Embedded []byte
	// AutocryptKey, when set, adds an Autocrypt header (Level 1 §2.1)
	// for From with this key's public part; AutocryptMutual sets
	// prefer-encrypt=mutual.
	AutocryptKey    *openpgp.Entity
	AutocryptMutual bool
	// Limits bound the work on Embedded.
	Limits Limits
}

// Compose builds the message. The output has CRLF line ends only, lines of
// at most 998 octets, exactly one From (in.From) and the recipients of
// in.To in To.
//
// Embedded header fields: From and To are replaced; Sender, Reply-To, Bcc,
// Resent-*, Return-Path, Received, DKIM-Signature, ARC-*, Autocrypt and
// the other identity and trace fields listed in dropField go; Cc is kept,
// reformatted, for display only; Subject, Date, Message-ID, In-Reply-To
// and References are kept when Input does not set them; other fields are
// kept with control characters removed. Bodies are re-encoded part by part
// (see copier) and a new boundary is used for each multipart.
func Compose(in Input) ([]byte, error) {
	var buf bytes.Buffer
	// The output is about the embedded message's size: one buffer of
	// that, not a doubling series (for a 25 MB mail, 66 MB of garbage).
	buf.Grow(len(in.Embedded) + len(in.Embedded)/16 + 4096)
	if err := ComposeTo(&buf, in); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ComposeTo is Compose writing the message to w (a buffer of the
// caller's: for a large mail, one outside the Go heap). On an error, what
// was written is not a message.
func ComposeTo(w io.Writer, in Input) error {
	c, err := newComposition(in)
	if err != nil {
		return err
	}
	if in.Embedded == nil {
		return c.writeText(w, in.Text)
	}
	return c.writeEmbedded(w)
}

// writeText writes the message with Text as its single text/plain body.
func (c *composition) writeText(w io.Writer, text string) error {
	body := normaliseLines([]byte(strings.ToValidUTF8(text, "\uFFFD")))
	cte := textEncoding(body)
	fs := append(c.fields(),
		field{"Content-Type", "text/plain; charset=utf-8"},
		field{"Content-Transfer-Encoding", cte})
	h, err := buildHeader(fs)
	if err != nil {
		return err
	}
	if err := textproto.WriteHeader(w, h); err != nil {
		return err
	}
	return writeBody(w, body, cte)
}
