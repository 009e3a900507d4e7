package queue

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Sentinel errors. Errors returned by a [Store] wrap one of these.
var (
	// ErrSpoolFull means the spool ran out of space or quota (ENOSPC,
	// EDQUOT); the message was not accepted and may be retried later.
	ErrSpoolFull = errors.New("queue: spool full")
	// ErrTemporary means a spool write failed for another reason; the
	// message was not accepted and may be retried later.
	ErrTemporary = errors.New("queue: temporary spool error")
	// ErrNotFound means no entry with that id is in the store.
	ErrNotFound = errors.New("queue: no such message")
	// ErrDamaged means an entry's envelope or body failed its checks.
	ErrDamaged = errors.New("queue: damaged entry")
	// ErrInvalid means an envelope given to Put or Update is malformed.
	ErrInvalid = errors.New("queue: invalid envelope")
)

// writeError classifies a failed spool write: it wraps [ErrSpoolFull] for
// ENOSPC and EDQUOT and [ErrTemporary] otherwise, keeping err in the chain.
func writeError(op string, err error) error {
	if errors.Is(err, ErrSpoolFull) || errors.Is(err, ErrTemporary) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %s: %w", ErrSpoolFull, op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrTemporary, op, err)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a permanent delivery failure: the recipient will
// not be retried and a DSN is sent. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// [Permanent]. Any other error is temporary.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter wraps a temporary error with a hint for when to try again,
// which replaces the exponential backoff for that attempt (bounded by
// [Config].RetryMax). A target that knows its peer is merely reconnecting
// can ask for an early retry this way. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: d}
}

// RetryDelay returns the hint attached by [RetryAfter], if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.d, true
	}
	return 0, false
}

// Diagnostic is what a DSN reports about a failed recipient (RFC 3464
// §2.3.4-§2.3.6). Targets attach it to their errors with [WithDiagnostic].
type Diagnostic struct {
	Status    string `json:"status,omitempty"`     // RFC 3463 code, e.g. "5.1.1"
	Type      string `json:"type,omitempty"`       // diagnostic-type, e.g. "smtp"
	Text      string `json:"text,omitempty"`       // e.g. "550 5.1.1 no such user"
	RemoteMTA string `json:"remote_mta,omitempty"` // e.g. "mx.example.org"
	// ExpiryStatus is the permanent RFC 3463 code to report if the
	// recipient expires with this as its last temporary failure (e.g.
	// 5.2.2 after retrying a full mailbox, 4.2.2); empty: 4.4.7.
	ExpiryStatus string `json:"expiry_status,omitempty"`
}

type diagError struct {
	err error
	d   Diagnostic
}

func (e *diagError) Error() string { return e.err.Error() }
func (e *diagError) Unwrap() error { return e.err }

// WithDiagnostic attaches d to err for the DSN. It does not change whether
// err is permanent. WithDiagnostic(nil, d) is nil.
func WithDiagnostic(err error, d Diagnostic) error {
	if err == nil {
		return nil
	}
	return &diagError{err: err, d: d}
}

// DiagnosticOf returns the [Diagnostic] attached to err, if any.
func DiagnosticOf(err error) (Diagnostic, bool) {
	var d *diagError
	if errors.As(err, &d) {
		return d.d, true
	}
	return Diagnostic{}, false
}
