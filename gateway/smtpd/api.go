package smtpd

import (
	"context"
	"time"
)

// Router decides about each transaction's sender at MAIL and about each
// recipient at RCPT; policy, route and key lookup live behind it.
//
// Mail checks the reverse path ("" for <>) and returns a transaction
// value, which every Rcpt of this transaction sees as s.Txn (the Router's
// per-transaction state, e.g. counters; nil is fine), or an error (a
// Kind, a *Reject, or any error, which becomes 451 4.3.0). In
// ModeSubmission s.AuthUser is set and Mail decides which addresses that
// user may send as (RFC 6409 §8); in ModeMX any syntactically valid
// reverse path may be accepted.
//
// Rcpt returns an opaque route decision that travels with the recipient
// to the Sink, or an error as above. This package has already refused
// source routes, address literals, '%', '!', quoted local parts and bad
// syntax. In ModeSubmission the Router decides whether s.AuthUser may
// send to non-local domains; in ModeMX it must return RelayDenied for
// them.
type Router interface {
	Mail(ctx context.Context, s *Info, from string) (txn any, err error)
	Rcpt(ctx context.Context, s *Info, from, to string) (route any, err error)
}

// Sink stores an accepted message durably; it returns nil only after fsync.
// data is the message exactly as the client sent it, dot-unstuffed; the
// Sink prepends env.Received (with env.Prepend, which does not copy data).
type Sink interface {
	Accept(ctx context.Context, env *Envelope, data []byte) error
}

// Authenticator checks submission credentials. Return AuthFailed (or any
// error) for bad credentials, AuthTemporary for a backend outage.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) error
}

// Info describes the client side of a session.
type Info struct {
	ID       string // session id, as logged under "sid"
	Remote   string // ip:port
	Mode     Mode
	Helo     string // EHLO/HELO argument
	TLS      bool
	AuthUser string // authenticated user; empty in ModeMX
	Txn      any    // what Router.Mail returned for the current transaction
}

// MailParams are the MAIL FROM parameters (RFC 1870, 6152, 6531, 3461).
type MailParams struct {
	Size     int64  // declared SIZE, 0 if absent
	Body     string // "7BIT", "8BITMIME" or ""
	SMTPUTF8 bool
	Ret      string // DSN RET: "FULL", "HDRS" or ""
	EnvID    string // DSN ENVID, decoded
}

// Recipient is an accepted recipient with the Router's decision.
type Recipient struct {
	Addr   string
	Route  any
	Notify []string // DSN NOTIFY values
	ORcpt  string   // DSN ORCPT address, decoded
}

// Envelope is one transaction as handed to the Sink.
type Envelope struct {
	Session    Info
	From       string // reverse path; "" for <>
	Params     MailParams
	Recipients []Recipient
	Received   string // trace header field, CRLF-terminated (RFC 5321 §4.4)
	Time       time.Time

	front []byte // the room smtpd left in front of the DATA buffer
}

// Prepend returns the header fields followed by data. When data is the
// message as this package read it, the fields are written into the room
// left in front of it, so the message is not copied again (H4); otherwise
// (a rewritten message, or fields longer than the room) it allocates. Call
// it once per transaction: a second call may reuse the same room.
func (e *Envelope) Prepend(data []byte, fields ...string) []byte {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	room := e.front
	if len(data) > 0 && n <= len(room) && len(room)+len(data) <= cap(room) &&
		&room[:len(room)+1][len(room)] == &data[0] {
		e.front = nil
		start := len(room) - n
		pos := start
		for _, f := range fields {
			pos += copy(room[pos:], f)
		}
		return room[start : len(room)+len(data)]
	}
	out := make([]byte, 0, n+len(data))
	for _, f := range fields {
		out = append(out, f...)
	}
	return append(out, data...)
}
