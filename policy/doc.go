// Package policy makes Passerelle's per-recipient decisions: which route a
// recipient takes (an XMPP user, a peer gateway, plain SMTP), how strictly
// mail to it must be encrypted, what happens when no key is found, whether the
// reverse path may send plaintext, and the size limit that applies.
//
// Rules inherit global → domain → address: a more specific rule overrides only
// the fields it sets. The package is pure: it does no I/O and imports neither
// the SMTP side (gateway) nor the XMPP side (bridge). Explain reports which
// rule decided each field, for `passerelle policy explain ADDRESS`.
package policy
