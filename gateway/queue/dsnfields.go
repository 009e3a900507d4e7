package queue

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// humanText is the first part of a DSN: the reason for each recipient,
// never any message content. Lines end in CRLF.
func (q *Queue) humanText(e *Envelope, idx []int, action dsnAction) []byte {
	var b bytes.Buffer
	crlf(&b, "This is the mail delivery system at %s.", q.cfg.DSN.ReportingMTA)
	crlf(&b, "")
	switch action {
	case actionDelivered, actionRelayed:
		crlf(&b, "Your message of %s was %s to the following", e.Received.Format(time.RFC1123Z), action)
		crlf(&b, "recipients, as you asked (NOTIFY=SUCCESS):")
		if action == actionRelayed {
			crlf(&b, "the next server does not offer delivery notifications, so this")
			crlf(&b, "is the last notice you will get about them.")
		}
		crlf(&b, "")
		for _, i := range idx {
			crlf(&b, "<%s>", sanitizeAddr(e.Recipients[i].Addr))
		}
		crlf(&b, "")
		crlf(&b, "The delivery report below has the details.")
		return b.Bytes()
	case actionDelayed:
		crlf(&b, "Your message of %s has not yet been delivered", e.Received.Format(time.RFC1123Z))
		crlf(&b, "to the following recipients. This is a warning only: delivery")
		crlf(&b, "will be retried until %s; you do not need to send it again.", e.Received.Add(q.cfg.Lifetime).Format(time.RFC1123Z))
	default:
		crlf(&b, "Your message of %s could not be delivered", e.Received.Format(time.RFC1123Z))
		crlf(&b, "to the following recipients:")
	}
	crlf(&b, "")
	for _, i := range idx {
		r := &e.Recipients[i]
		crlf(&b, "<%s>:", sanitizeAddr(r.Addr))
		crlf(&b, "    %s", sanitize(q.reason(r)))
		crlf(&b, "")
	}
	crlf(&b, "The delivery report below has the details.")
	return b.Bytes()
}

func (q *Queue) reason(r *Recipient) string {
	text := r.LastError
	if r.Diag != nil && r.Diag.Text != "" {
		text = r.Diag.Text
	}
	if r.Diag != nil && r.Diag.Status == "4.4.7" {
		return fmt.Sprintf("delivery did not succeed within %s; last error: %s", q.cfg.Lifetime, text)
	}
	return text
}

// statusFields is the message/delivery-status body (RFC 3464 §2.1):
// per-message fields, then one block of per-recipient fields for each
// recipient, blocks separated by an empty line.
func (q *Queue) statusFields(e *Envelope, idx []int, action dsnAction) []byte {
	var b bytes.Buffer
	// Every value is sanitised again: the envelope came from disk.
	if e.EnvID != "" {
		crlf(&b, "Original-Envelope-Id: %s", sanitize(e.EnvID))
	}
	crlf(&b, "Reporting-MTA: dns; %s", sanitize(q.cfg.DSN.ReportingMTA))
	crlf(&b, "Arrival-Date: %s", e.Received.Format(time.RFC1123Z))
	for _, i := range idx {
		crlf(&b, "")
		switch action {
		case actionDelayed:
			delayedFields(&b, &e.Recipients[i], e.Received.Add(q.cfg.Lifetime))
		case actionDelivered, actionRelayed:
			successFields(&b, &e.Recipients[i], action)
		default:
			recipientFields(&b, &e.Recipients[i])
		}
	}
	return b.Bytes()
}

func recipientFields(b *bytes.Buffer, r *Recipient) {
	if r.ORCPT != "" {
		crlf(b, "Original-Recipient: %s", sanitize(r.ORCPT))
	}
	crlf(b, "Final-Recipient: %s", addrField(r.Addr))
	crlf(b, "Action: failed")
	d := r.Diag
	if d == nil {
		d = &Diagnostic{Status: "5.0.0"}
	}
	status := d.Status
	if !validStatus(status) {
		status = "5.0.0"
	}
	crlf(b, "Status: %s", status)
	if d.RemoteMTA != "" {
		crlf(b, "Remote-MTA: dns; %s", sanitize(d.RemoteMTA))
	}
	if d.Type != "" && d.Text != "" {
		crlf(b, "Diagnostic-Code: %s; %s", sanitize(d.Type), sanitize(d.Text))
	} else if r.LastError != "" {
		crlf(b, "Diagnostic-Code: X-Passerelle; %s", sanitize(r.LastError))
	}
	if !r.LastAttempt.IsZero() {
		crlf(b, "Last-Attempt-Date: %s", r.LastAttempt.Format(time.RFC1123Z))
	}
}

// delayedFields is a recipient's block in a delay notice (RFC 3464 §2.3):
// Action delayed, the 4.x.x status of the last temporary failure (4.0.0
// without one), and Will-Retry-Until (§2.3.8).
func delayedFields(b *bytes.Buffer, r *Recipient, until time.Time) {
	if r.ORCPT != "" {
		crlf(b, "Original-Recipient: %s", sanitize(r.ORCPT))
	}
	crlf(b, "Final-Recipient: %s", addrField(r.Addr))
	crlf(b, "Action: delayed")
	status := "4.0.0"
	if r.Diag != nil && validStatus(r.Diag.Status) && r.Diag.Status[0] == '4' {
		status = r.Diag.Status
	}
	crlf(b, "Status: %s", status)
	if r.Diag != nil && r.Diag.RemoteMTA != "" {
		crlf(b, "Remote-MTA: dns; %s", sanitize(r.Diag.RemoteMTA))
	}
	if r.Diag != nil && r.Diag.Type != "" && r.Diag.Text != "" {
		crlf(b, "Diagnostic-Code: %s; %s", sanitize(r.Diag.Type), sanitize(r.Diag.Text))
	} else if r.LastError != "" {
		crlf(b, "Diagnostic-Code: X-Passerelle; %s", sanitize(r.LastError))
	}
	if !r.LastAttempt.IsZero() {
		crlf(b, "Last-Attempt-Date: %s", r.LastAttempt.Format(time.RFC1123Z))
	}
	crlf(b, "Will-Retry-Until: %s", until.Format(time.RFC1123Z))
}

// successFields is a recipient's block in a success notice (RFC 3464
// §2.3: Action delivered or relayed, Status 2.0.0).
func successFields(b *bytes.Buffer, r *Recipient, action dsnAction) {
	if r.ORCPT != "" {
		crlf(b, "Original-Recipient: %s", sanitize(r.ORCPT))
	}
	crlf(b, "Final-Recipient: %s", addrField(r.Addr))
	crlf(b, "Action: %s", action)
	crlf(b, "Status: 2.0.0")
	if !r.LastAttempt.IsZero() {
		crlf(b, "Last-Attempt-Date: %s", r.LastAttempt.Format(time.RFC1123Z))
	}
}

func crlf(b *bytes.Buffer, format string, args ...any) {
	fmt.Fprintf(b, format, args...)
	b.WriteString("\r\n")
}

// addrField is an address-type; address pair: rfc822 for ASCII addresses,
// else utf-8 with RFC 6533 utf-8-addr-xtext so the field stays ASCII.
func addrField(a string) string {
	if isASCII(a) && !strings.ContainsAny(a, "\\") {
		return "rfc822; " + sanitizeAddr(a)
	}
	var b strings.Builder
	for _, c := range a {
		if c > 0x20 && c < 0x7f && c != '+' && c != '=' && c != '\\' {
			b.WriteRune(c)
		} else if c != utf8.RuneError {
			fmt.Fprintf(&b, "\\x{%X}", c)
		}
	}
	return "utf-8; " + b.String()
}

// sanitizeAddr drops control characters (validation already rejects them;
// this is defence in depth for header fields).
func sanitizeAddr(a string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, a)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
