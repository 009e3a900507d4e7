package xmpp

import (
	"encoding/xml"
	"errors"
	"fmt"

	"mellium.im/xmpp/stanza"
)

// Link errors. Send wraps them in an error whose Temporary method reports
// true; test with errors.Is.
var (
	ErrNotConnected = errors.New("xmpp: not connected")
	ErrLinkLost     = errors.New("xmpp: link lost before acknowledgement")
	ErrAckTimeout   = errors.New("xmpp: acknowledgement timed out")
	ErrDuplicateID  = errors.New("xmpp: a message with this id is already in flight")
)

// Error is a stanza error returned for a message the server bounced
// (RFC 6120 §8.3). Transient tells the queue whether to retry.
type Error struct {
	Condition string // RFC 6120 §8.3.3 defined condition, e.g. "item-not-found"
	Type      string // cancel, continue, modify, auth or wait (§8.3.2)
	Text      string // the server's human-readable text, if any
	Transient bool   // see Temporary
}

// Error implements error.
func (e *Error) Error() string {
	s := "xmpp: stanza error " + e.Condition
	if e.Type != "" {
		s += " (" + e.Type + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Temporary reports whether sending again later may succeed.
func (e *Error) Temporary() bool { return e.Transient }

// temporaryConditions are the RFC 6120 §8.3.3 conditions worth a retry.
//   - internal-server-error, resource-constraint: the server's own transient
//     trouble (§8.3.3.6: "wait"; §8.3.3.18).
//   - recipient-unavailable (§8.3.3.14) is defined as temporary.
//   - remote-server-not-found and remote-server-timeout (§8.3.3.16, 17):
//     Prosody uses them for any failed s2s connection and, per PEERS.md, for
//     a component that is not connected ("Component unavailable"); like a
//     DNS failure in SMTP, the retry schedule bounds them.
//
// Every other defined condition is permanent, notably service-unavailable:
// RFC 6121 §8.5.2 has servers answer it for a message to an account that
// does not exist, which Prosody does; item-not-found, forbidden, not-allowed,
// not-acceptable, policy-violation, bad-request, jid-malformed, gone,
// redirect (we follow none) and the auth conditions cannot succeed on retry.
var temporaryConditions = map[string]bool{
	"internal-server-error":   true,
	"resource-constraint":     true,
	"recipient-unavailable":   true,
	"remote-server-not-found": true,
	"remote-server-timeout":   true,
}

// definedConditions lists RFC 6120 §8.3.3; conditions not in it fall back
// to the error type.
var definedConditions = map[string]bool{
	"bad-request": true, "conflict": true, "feature-not-implemented": true,
	"forbidden": true, "gone": true, "internal-server-error": true,
	"item-not-found": true, "jid-malformed": true, "not-acceptable": true,
	"not-allowed": true, "not-authorized": true, "policy-violation": true,
	"recipient-unavailable": true, "redirect": true, "registration-required": true,
	"remote-server-not-found": true, "remote-server-timeout": true,
	"resource-constraint": true, "service-unavailable": true,
	"subscription-required": true, "unexpected-request": true,
}

// Classify builds an Error from a condition and type. Defined conditions
// follow the table above; undefined-condition, unknown conditions and a
// missing condition follow the type: "wait" and no type are temporary
// (unknown trouble is retried), cancel/modify/auth are permanent.
func Classify(condition, typ, text string) *Error {
	e := &Error{Condition: condition, Type: typ, Text: text}
	switch {
	case definedConditions[condition] && condition != "unexpected-request":
		e.Transient = temporaryConditions[condition]
	default:
		e.Transient = typ == "" || typ == string(stanza.Wait)
	}
	return e
}

// decodeBounce reads the <error/> child of a bounced stanza from r (the
// stanza's children) and classifies it.
func decodeBounce(r xml.TokenReader) *Error {
	se, err := stanza.UnmarshalError(r)
	if err != nil {
		return Classify("", "", fmt.Sprintf("unreadable error stanza: %v", err))
	}
	return Classify(string(se.Condition), string(se.Type), textOf(se))
}

func textOf(se stanza.Error) string {
	for _, t := range se.Text {
		return t
	}
	return ""
}

// temporary marks a link error as worth a retry.
type temporary struct{ err error }

func (t temporary) Error() string   { return t.err.Error() }
func (t temporary) Unwrap() error   { return t.err }
func (t temporary) Temporary() bool { return true }

func tempErr(sentinel error, cause error) error {
	if cause == nil {
		return temporary{sentinel}
	}
	return temporary{fmt.Errorf("%w: %w", sentinel, cause)}
}
