package peermsg

import (
	"errors"
	"strings"

	"passerelle/bridge/payload"
)

// NS is the namespace of every element of this package.
const NS = "urn:passerelle:peer:0"

// Errors, wrapped with context; match them with errors.Is.
var (
	ErrMalformed = errors.New("peermsg: malformed")
	ErrTooLarge  = errors.New("peermsg: too large")
	ErrInvalid   = errors.New("peermsg: invalid envelope")
)

// Envelope is the signed and encrypted content of one transfer: one
// message for one receiving gateway.
type Envelope struct {
	// ID names the transfer; the sender keeps it across retries and the
	// receiver suppresses a second transfer with the same (sender, ID).
	ID string
	// SenderDomain is the mail domain the sending gateway speaks for: the
	// domain of MailFrom, or, for the null sender, one of its own domains.
	// Its _passerelle record must name the sending component.
	SenderDomain string
	MailFrom     string // RFC 5321 reverse-path without <>; "" is the null sender
	EnvID        string // RFC 3461 ENVID, decoded; optional
	Rcpts        []Rcpt // the RCPT TO list for the receiver's domains
	// Mail is the RFC 5322 message; nil when every recipient has a Sealed
	// copy (the receiving gateway then never sees the message).
	Mail   *payload.Mail
	Sealed []Sealed
}

// Rcpt is one envelope recipient.
type Rcpt struct {
	Addr   string   // RFC 5321 forward-path without <>
	ORCPT  string   // RFC 3461 "addr-type;address", decoded; optional
	Notify []string // RFC 3461 NOTIFY keywords; empty: the default
}

// Sealed is the end-to-end layer for one recipient: the raw OpenPGP
// message of an XEP-0373 <signcrypt/> addressed to Rcpt and encrypted to
// the recipient's own published key, which the receiving gateway forwards
// unopened as the <openpgp/> element of the message to the user.
type Sealed struct {
	Rcpt string
	Data []byte
}

// Limits bound what the parsers accept. A zero field takes its default.
type Limits struct {
	MaxBytes     int   // the whole XML input; default 1 MiB (stanzas are at most 512 KiB)
	MaxMailBytes int64 // the RFC 5322 message, inline or declared external; default 64 MiB
	MaxRcpts     int   // recipients in one envelope; default 100 (RFC 5321 §4.5.3.1.8)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 20
	}
	if l.MaxMailBytes <= 0 {
		l.MaxMailBytes = 64 << 20
	}
	if l.MaxRcpts <= 0 {
		l.MaxRcpts = 100
	}
	return l
}

// MaxIDLen is the longest transfer id.
const MaxIDLen = 64

// ValidID reports whether id is a transfer id: 1 to 64 characters of
// [A-Za-z0-9._-].
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// maxAddrLen bounds an address (RFC 5321 §4.5.3.1: 64 + 1 + 255).
const maxAddrLen = 320

// validAddr accepts local@domain with no space, control character or
// angle bracket (the SMTP side already parsed it; this only keeps the
// envelope sane).
func validAddr(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > maxAddrLen {
		return false
	}
	for _, c := range []byte(a) {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return validDomain(a[at+1:])
}

func validDomain(d string) bool {
	if d == "" || len(d) > 255 || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return false
	}
	for _, c := range []byte(d) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c >= 0x80
		if !ok {
			return false
		}
	}
	return true
}

// Domain returns the lower-cased domain of an address.
func Domain(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}
