package jidesc

import (
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"
)

// ErrNotPuppet is returned by EmailFromPuppet for a JID whose localpart is
// not the canonical escaping of an email address.
var ErrNotPuppet = errors.New("jidesc: not a puppet JID")

// PuppetJID returns the JID under which the email correspondent email
// appears on the gateway's component domain:
// bob@gmail.com -> bob\40gmail.com@mail.example.org. The whole address is
// the localpart (XEP-0106 §5.1, "Email addresses"). PRECIS case-maps the
// localpart, so the JID is lowercase.
func PuppetJID(email, componentDomain string) (jid.JID, error) {
	local, domain, err := SplitEmail(email)
	if err != nil {
		return jid.JID{}, err
	}
	addr := local + "@" + domain
	if err := Validate(addr); err != nil {
		return jid.JID{}, fmt.Errorf("puppet for %q: %w", email, err)
	}
	j, err := jid.New(Escape(addr), componentDomain, "")
	if err != nil {
		return jid.JID{}, fmt.Errorf("jidesc: puppet for %q: %w", email, err)
	}
	return j, nil
}

// EmailFromPuppet returns the email address a puppet JID stands for. The
// caller checks that the JID's domain is the gateway's component. Only the
// canonical escaping is accepted, so two JIDs never name one address.
func EmailFromPuppet(j jid.JID) (string, error) {
	lp := j.Localpart()
	if lp == "" {
		return "", fmt.Errorf("%w: %s has no localpart", ErrNotPuppet, j)
	}
	addr, err := Unescape(lp)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrNotPuppet, j, err)
	}
	if Escape(addr) != lp {
		return "", fmt.Errorf("%w: %s is not canonically escaped", ErrNotPuppet, j)
	}
	local, domain, err := SplitEmail(addr)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrNotPuppet, j, err)
	}
	return local + "@" + domain, nil
}

// splitAt returns the parts of email around its last '@'.
func splitAt(email string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(email, '@')
	if i <= 0 || i == len(email)-1 {
		return "", "", false
	}
	return email[:i], email[i+1:], true
}
