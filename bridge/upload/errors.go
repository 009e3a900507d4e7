package upload

import (
	"errors"
	"fmt"
	"strings"
)

// Kinds of failure. An *Error wraps one of them; test with errors.Is.
var (
	ErrNoService = errors.New("upload: no HTTP File Upload service")
	ErrTooLarge  = errors.New("upload: file too large")
	ErrForbidden = errors.New("upload: not allowed to upload")
	ErrQuota     = errors.New("upload: service out of quota or resources")
	ErrRefused   = errors.New("upload: request refused")
	ErrBadSlot   = errors.New("upload: invalid slot")
	ErrBadURL    = errors.New("upload: URL refused")
	ErrHTTP      = errors.New("upload: unexpected HTTP status")
	ErrTransport = errors.New("upload: transport failure")
)

// Error is a failed discovery, slot request, PUT or GET.
type Error struct {
	Op        string // "discover", "slot", "put" or "get"
	Kind      error  // one of the Err* sentinels
	Condition string // RFC 6120 §8.3.3 condition of a stanza error
	Type      string // stanza error type: cancel, modify, auth, wait
	Text      string // the server's text, if any
	Status    int    // HTTP status, if any
	MaxSize   int64  // the service's limit, when it gave one
	Transient bool   // see Temporary
	Err       error  // underlying cause, if any
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Kind, e.Op)
	if e.Condition != "" {
		fmt.Fprintf(&b, ": %s (%s)", e.Condition, e.Type)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.MaxSize > 0 {
		fmt.Fprintf(&b, ": max %d bytes", e.MaxSize)
	}
	if e.Text != "" {
		fmt.Fprintf(&b, ": %q", e.Text)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Temporary reports whether trying again later (with a new slot) may work.
func (e *Error) Temporary() bool { return e.Transient }

// IsTemporary reports whether err is an *Error marked transient or carries
// a Temporary method returning true.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// temporaryConditions are the RFC 6120 §8.3.3 conditions worth a retry; the
// same table as bridge/xmpp. A "wait" error type is temporary too (§8.3.2).
var temporaryConditions = map[string]bool{
	"internal-server-error":   true,
	"resource-constraint":     true,
	"recipient-unavailable":   true,
	"remote-server-not-found": true,
	"remote-server-timeout":   true,
}

// stanzaError classifies a slot or disco error reply (XEP-0363 §4).
func stanzaError(op string, se stanzaErr) *Error {
	e := &Error{Op: op, Condition: se.Condition, Type: se.Type, Text: se.Text,
		MaxSize: se.MaxSize, Kind: ErrRefused}
	e.Transient = temporaryConditions[se.Condition] || se.Type == "wait"
	switch {
	case se.TooLarge:
		e.Kind, e.Transient = ErrTooLarge, false
	case se.Condition == "resource-constraint" || se.Type == "wait":
		e.Kind = ErrQuota
	case e.Transient:
		e.Kind = ErrTransport
	case se.Condition == "not-allowed" || se.Condition == "forbidden" || se.Condition == "not-authorized":
		e.Kind = ErrForbidden
	case se.Condition == "service-unavailable" || se.Condition == "feature-not-implemented" ||
		se.Condition == "item-not-found":
		e.Kind = ErrNoService
	}
	return e
}

// httpTemporary lists HTTP statuses worth a retry with a new slot: 401 and
// 410 are what Prosody answers once the slot's token expired.
func httpTemporary(status int) bool {
	switch status {
	case 401, 408, 410, 425, 429:
		return true
	}
	return status >= 500
}
