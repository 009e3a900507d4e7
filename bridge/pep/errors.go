package pep

import (
	"errors"
	"fmt"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
)

// Lookup errors. The first two wrap keys.ErrNoKey, the last two
// keys.ErrInvalidKey (which a keys.Resolver also counts as no key); test
// with errors.Is.
var (
	ErrNotPublished        = fmt.Errorf("pep: no key published: %w", keys.ErrNoKey)
	ErrNotAccessible       = fmt.Errorf("pep: no key readable by the gateway (none published, or the node's access model is not open): %w", keys.ErrNoKey)
	ErrMalformed           = fmt.Errorf("pep: malformed key announcement: %w", keys.ErrInvalidKey)
	ErrFingerprintMismatch = fmt.Errorf("pep: key does not match its announced fingerprint: %w", keys.ErrInvalidKey)
)

// sourceName is the Source's Name and the TemporaryError's Source.
const sourceName = "pep"

// Conditions (RFC 6120 §8.3.3, XEP-0060 §6.5.9) that mean the gateway may
// not read the node: XEP-0060 answers not-authorized for the presence and
// roster access models, not-allowed for whitelist, forbidden for an
// outcast. Prosody 0.12's mod_pep answers forbidden (type auth) alike for
// a node with access model presence, for a node that does not exist and
// for an account that does not exist (see TestSourceProsody), so a denial
// cannot be told from "nothing published".
var deniedConditions = map[string]bool{
	"forbidden": true, "not-authorized": true, "not-allowed": true,
	"registration-required": true, "subscription-required": true,
}

// Conditions that mean nothing is published there: no such node
// (XEP-0060 §6.5.9.11), no such account (RFC 6121 §8.5.1), no PEP service.
var absentConditions = map[string]bool{
	"item-not-found": true, "service-unavailable": true, "feature-not-implemented": true,
}

// mapError turns an error from the IQ round trip of step into a lookup
// error: no key (wrapping keys.ErrNoKey) or a *keys.TemporaryError.
func mapError(step string, err error) error {
	var xe *xmpp.Error
	if !errors.As(err, &xe) {
		return &keys.TemporaryError{Source: sourceName, Err: fmt.Errorf("%s: %w", step, err)}
	}
	switch {
	case absentConditions[xe.Condition]:
		return fmt.Errorf("%s: %w: %w", step, ErrNotPublished, err)
	case deniedConditions[xe.Condition]:
		return fmt.Errorf("%s: %w: %w", step, ErrNotAccessible, err)
	case xe.Temporary():
		return &keys.TemporaryError{Source: sourceName, Err: fmt.Errorf("%s: %w", step, err)}
	}
	return fmt.Errorf("%s: %w: %w", step, keys.ErrNoKey, err)
}
