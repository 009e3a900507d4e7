package keys

import (
	"fmt"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

const maxAddressLen = 1024

// NormalizeAddress turns "alice@Example.ORG", "<alice@example.org>",
// "xmpp:alice@example.org" and "mailto:alice@example.org" into
// "alice@example.org". Local parts are compared case-insensitively, as
// GnuPG and WKD do. An email address and the JID with the same text are the
// same person (see the identity model in the brief).
func NormalizeAddress(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if i := strings.LastIndexByte(a, '<'); i >= 0 && strings.HasSuffix(a, ">") {
		a = a[i+1 : len(a)-1]
	}
	for _, p := range []string{"xmpp:", "mailto:"} {
		if len(a) >= len(p) && strings.EqualFold(a[:len(p)], p) {
			a = a[len(p):]
		}
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > maxAddressLen ||
		strings.ContainsAny(a, " \t\r\n<>()\x00/") {
		return "", fmt.Errorf("%w: %q", ErrInvalidAddress, addr)
	}
	return strings.ToLower(a), nil
}

// Addresses returns the normalised addresses of e's self-signed user IDs.
// It reads the three forms found in the wild: "Name <a@b>" (go-crypto puts
// the address in Email), a bare "a@b" as GnuPG writes it (go-crypto puts it
// in Name), and "xmpp:a@b" (XEP-0373).
func Addresses(e *openpgp.Entity) []string {
	var out []string
	for _, id := range e.Identities {
		if _, err := id.Verify(time.Time{}, nil); err != nil {
			continue
		}
		raw := id.Name
		if id.UserId != nil && id.UserId.Email != "" {
			raw = id.UserId.Email
		}
		if a, err := NormalizeAddress(raw); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// HasAddress reports whether one of e's self-signed user IDs carries addr.
func HasAddress(e *openpgp.Entity, addr string) bool {
	want, err := NormalizeAddress(addr)
	if err != nil {
		return false
	}
	for _, a := range Addresses(e) {
		if a == want {
			return true
		}
	}
	return false
}
