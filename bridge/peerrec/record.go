package peerrec

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Version is the value of the record's v tag.
const Version = "passerelle1"

// Label is the DNS label the record lives under: Label + "." + domain.
const Label = "_passerelle"

// MaxLen bounds a record's text (all its character-strings joined).
const MaxLen = 2048

// TTL bounds: a record's lifetime is how long a pinned key may not change
// without an operator's decision, so it is at least a minute and at most a
// year.
const (
	MinTTL = time.Minute
	MaxTTL = 365 * 24 * time.Hour
)

// Policy says whether senders may fall back to SMTP for the domain.
type Policy string

const (
	Strict Policy = "strict" // never fall back to SMTP
	Mixed  Policy = "mixed"  // prefer XMPP; SMTP allowed
)

// ErrMalformed marks a record that is present but does not parse: a
// permanent condition until its operator fixes it.
var ErrMalformed = errors.New("peerrec: malformed record")

// Record is a parsed gateway record.
type Record struct {
	JID         string        // the receiving gateway's component JID (a domain JID)
	Fingerprint []byte        // OpenPGP fingerprint of its domain key: 20 bytes (v4) or 32 (v6)
	Policy      Policy        // Strict or Mixed
	TTL         time.Duration // lifetime of the published key, whole seconds
}

// Name returns the DNS owner name of domain's record, fully qualified:
// "_passerelle.b.example.".
func Name(domain string) string {
	return Label + "." + strings.TrimSuffix(strings.ToLower(domain), ".") + "."
}

// FingerprintHex is the fingerprint in lower-case hex, as published.
func (r Record) FingerprintHex() string { return hex.EncodeToString(r.Fingerprint) }

// String formats r as the TXT record's text, tags in canonical order. It
// does not validate; Validate first when r did not come from Parse.
func (r Record) String() string {
	return fmt.Sprintf("v=%s; jid=%s; fp=%s; policy=%s; ttl=%d",
		Version, r.JID, r.FingerprintHex(), r.Policy, int64(r.TTL/time.Second))
}

// Validate checks every field against the rules Parse applies.
func (r Record) Validate() error {
	if err := checkJID(r.JID); err != nil {
		return err
	}
	if n := len(r.Fingerprint); n != 20 && n != 32 {
		return fmt.Errorf("%w: fingerprint of %d bytes, want 20 (v4) or 32 (v6)", ErrMalformed, n)
	}
	if r.Policy != Strict && r.Policy != Mixed {
		return fmt.Errorf("%w: policy %q, want strict or mixed", ErrMalformed, r.Policy)
	}
	if r.TTL < MinTTL || r.TTL > MaxTTL || r.TTL%time.Second != 0 {
		return fmt.Errorf("%w: ttl %v outside [%v, %v] or not whole seconds", ErrMalformed, r.TTL, MinTTL, MaxTTL)
	}
	return nil
}

// checkJID accepts a bare domain JID (no localpart, no resource), as a
// component has, in its canonical form.
func checkJID(s string) error {
	j, err := jid.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: jid %q: %v", ErrMalformed, s, err)
	}
	if j.Localpart() != "" || j.Resourcepart() != "" {
		return fmt.Errorf("%w: jid %q is not a domain JID", ErrMalformed, s)
	}
	if j.String() != s {
		return fmt.Errorf("%w: jid %q is not in canonical form (%q)", ErrMalformed, s, j.String())
	}
	return nil
}
