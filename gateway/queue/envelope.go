package queue

import (
	"crypto/rand"
	"encoding/base32"
	"maps"
	"slices"
	"strings"
	"time"
)

// State is the delivery state of one recipient.
type State string

// Recipient states.
const (
	StatePending   State = "pending"
	StateDelivered State = "delivered"
	StateFailed    State = "failed"
)

// BodyKind says what a body holds, which decides what a DSN may quote.
type BodyKind string

// Body kinds.
const (
	// BodyMessage is a plain RFC 5322 message; a DSN may include its header.
	BodyMessage BodyKind = "rfc5322"
	// BodyOpaque is ciphertext or anything else a DSN must not quote.
	BodyOpaque BodyKind = "opaque"
)

// Body describes one stored body. Put fills Size and SHA256.
type Body struct {
	Kind   BodyKind `json:"kind"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"` // lowercase hex
}

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	Addr   string            `json:"addr"`             // RFC 5321 forward-path
	Route  string            `json:"route"`            // target name, e.g. "xmpp"; unknown fails permanently
	Body   int               `json:"body"`             // index into Envelope.Bodies
	Params map[string]string `json:"params,omitempty"` // route-specific, e.g. the JID

	// ORCPT is the RFC 3461 original recipient, "addr-type;address",
	// already xtext-decoded, e.g. "rfc822;bob@example.org".
	ORCPT string `json:"orcpt,omitempty"`
	// Notify holds the RFC 3461 NOTIFY keywords (NEVER, SUCCESS, FAILURE,
	// DELAY). Empty means the default, FAILURE,DELAY.
	Notify []string `json:"notify,omitempty"`

	State       State       `json:"state"`
	Attempts    int         `json:"attempts,omitempty"`
	NextAttempt time.Time   `json:"next_attempt,omitzero"`
	LastAttempt time.Time   `json:"last_attempt,omitzero"`
	LastError   string      `json:"last_error,omitempty"`
	Diag        *Diagnostic `json:"diag,omitempty"`
	// Reported is set once a failed recipient has been reported in a DSN
	// (or needs none), so a restart does not lose or repeat the report.
	Reported bool `json:"reported,omitempty"`
	// Panics counts the consecutive passes over the message that panicked
	// while this recipient was open; at maxPanics the message is
	// quarantined.
	Panics int `json:"panics,omitempty"`
	// DelayReported is set once the sender was warned that this recipient
	// is delayed (or needs no warning), so it is warned at most once.
	DelayReported bool `json:"delay_reported,omitempty"`
	// Held is set by the operator (`passerelle queue hold`): a held
	// pending recipient is not attempted until released.
	Held bool `json:"held,omitempty"`
	// Success is the success notice (RFC 3461 NOTIFY=SUCCESS) owed for a
	// delivered recipient: "delivered" or "relayed" while owed, "reported"
	// once marked sent, "" when none was asked for.
	Success string `json:"success,omitempty"`
}

// Envelope is the spooled metadata of one message.
type Envelope struct {
	ID         string      `json:"id"`       // assigned by Put
	From       string      `json:"from"`     // RFC 5321 reverse-path; "" is the null sender
	Received   time.Time   `json:"received"` // arrival; Put sets it if zero
	IsDSN      bool        `json:"is_dsn,omitempty"`
	EnvID      string      `json:"envid,omitempty"` // RFC 3461 ENVID, xtext-decoded
	Bodies     []Body      `json:"bodies"`
	Recipients []Recipient `json:"recipients"`
}

// Clone returns a deep copy of e.
func (e *Envelope) Clone() *Envelope {
	c := *e
	c.Bodies = slices.Clone(e.Bodies)
	c.Recipients = cloneRecipients(e.Recipients)
	return &c
}

func cloneRecipients(rs []Recipient) []Recipient {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Params = maps.Clone(rs[i].Params)
		out[i].Notify = slices.Clone(rs[i].Notify)
		if rs[i].Diag != nil {
			d := *rs[i].Diag
			out[i].Diag = &d
		}
	}
	return out
}

// Done reports whether every recipient is delivered, or failed and reported.
func (e *Envelope) Done() bool {
	for _, r := range e.Recipients {
		if !r.done() {
			return false
		}
	}
	return true
}

func (r *Recipient) done() bool {
	return r.State == StateDelivered || (r.State == StateFailed && r.Reported)
}

// wantsFailureDSN applies RFC 3461 §4.1: without NOTIFY the MTA behaves as
// if NOTIFY=FAILURE,DELAY was given.
func (r *Recipient) wantsSuccessDSN() bool {
	for _, n := range r.Notify {
		if strings.EqualFold(n, "SUCCESS") {
			return true
		}
	}
	return false
}

func (r *Recipient) wantsFailureDSN() bool {
	if len(r.Notify) == 0 {
		return true
	}
	for _, n := range r.Notify {
		if strings.EqualFold(n, "FAILURE") {
			return true
		}
	}
	return false
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

const idLen = 26 // 16 random bytes in unpadded base32

// NewID returns a random message id: 26 characters of [a-z2-7], safe in
// file names, Message-IDs and log lines.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
