package reverse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Bounds of ParseDSN.
const (
	maxDSNBytes      = 1 << 20
	maxDSNParts      = 16
	maxDSNRecipients = 100
	maxDSNText       = 400
)

// ErrNotDSN means a message is not an RFC 3464 delivery status report.
var ErrNotDSN = errors.New("reverse: not a delivery status notification")

// DSNRecipient is one per-recipient block of a delivery status report
// (RFC 3464 §2.3).
type DSNRecipient struct {
	FinalRecipient string // the address, without its address type
	Action         string // failed, delayed, delivered, relayed, expanded
	Status         string // RFC 3463 code, e.g. "5.1.1"
	Diagnostic     string // the Diagnostic-Code text, without its type
	RemoteMTA      string
}

// ParseDSN reads a multipart/report; report-type=delivery-status message
// (RFC 3462, RFC 3464) and returns its per-recipient blocks. Every value is
// reduced to printable one-line text of bounded length.
func ParseDSN(raw []byte) ([]DSNRecipient, error) {
	if len(raw) > maxDSNBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotDSN, len(raw))
	}
	m, err := message.Read(bytes.NewReader(raw))
	if err != nil && m == nil {
		return nil, fmt.Errorf("%w: %w", ErrNotDSN, err)
	}
	mt, params, _ := m.Header.ContentType()
	if mt != "multipart/report" || !strings.EqualFold(params["report-type"], "delivery-status") {
		return nil, fmt.Errorf("%w: content type %q", ErrNotDSN, mt)
	}
	mr := m.MultipartReader()
	if mr == nil {
		return nil, fmt.Errorf("%w: no parts", ErrNotDSN)
	}
	for range maxDSNParts {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && p == nil {
			return nil, fmt.Errorf("%w: %w", ErrNotDSN, err)
		}
		if t, _, _ := p.Header.ContentType(); t == "message/delivery-status" || t == "message/global-delivery-status" {
			body, err := io.ReadAll(io.LimitReader(p.Body, maxDSNBytes))
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrNotDSN, err)
			}
			return parseStatus(body)
		}
	}
	return nil, fmt.Errorf("%w: no message/delivery-status part", ErrNotDSN)
}

// parseStatus reads the per-message block and the per-recipient blocks,
// separated by empty lines (RFC 3464 §2.1).
func parseStatus(body []byte) ([]DSNRecipient, error) {
	br := bufio.NewReader(bytes.NewReader(body))
	var out []DSNRecipient
	for i := 0; len(out) < maxDSNRecipients; i++ {
		for { // tolerate extra empty lines between blocks
			b, err := br.Peek(1)
			if err != nil {
				return finish(out)
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			br.ReadByte()
		}
		h, err := textproto.ReadHeader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: status block %d: %w", ErrNotDSN, i, err)
		}
		if i > 0 || h.Has("Final-Recipient") {
			if r, ok := recipientBlock(h); ok {
				out = append(out, r)
			}
		}
	}
	return finish(out)
}

func finish(out []DSNRecipient) ([]DSNRecipient, error) {
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no recipient blocks", ErrNotDSN)
	}
	return out, nil
}

func recipientBlock(h textproto.Header) (DSNRecipient, bool) {
	r := DSNRecipient{
		FinalRecipient: typedValue(h.Get("Final-Recipient")),
		Action:         strings.ToLower(clean(h.Get("Action"))),
		Status:         clean(h.Get("Status")),
		Diagnostic:     typedValue(h.Get("Diagnostic-Code")),
		RemoteMTA:      typedValue(h.Get("Remote-MTA")),
	}
	if r.FinalRecipient == "" {
		r.FinalRecipient = typedValue(h.Get("Original-Recipient"))
	}
	return r, r.FinalRecipient != ""
}

// typedValue is the value of a "type; value" field (RFC 3464 §2.3.2).
func typedValue(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		v = after
	}
	return clean(v)
}

// clean makes one printable line of at most maxDSNText bytes; control
// characters become spaces, runs of spaces one.
func clean(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '\u2028' || r == '\u2029'
	}), " ")
	s = strings.ToValidUTF8(s, "?")
	if len(s) > maxDSNText {
		s = strings.ToValidUTF8(s[:maxDSNText], "") + "..."
	}
	return s
}
