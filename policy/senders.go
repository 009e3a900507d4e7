package policy

import (
	"fmt"
	"strings"
)

// SendAs is what an authenticated submission user may do with one sender
// address (envelope MAIL FROM or header From).
type SendAs int

// SendAs values.
const (
	// SendAsDenied: the address is not the user's; the mail is refused
	// (550 5.7.1, RFC 6409 §8 lets the MSA enforce this).
	SendAsDenied SendAs = iota
	// SendAsOwn: the address is the user's (listed, or in a listed
	// domain): the puppet key may vouch for it.
	SendAsOwn
	// SendAsAny: the user may send as any address ("*", e.g. a site's own
	// MTA relaying through us), but the gateway does not vouch for it:
	// the mail is marked unverified like unauthenticated MX mail.
	SendAsAny
)

// senderRule is the parsed `from` list of one submission user.
type senderRule struct {
	addrs   map[string]bool // lower-cased full addresses
	domains map[string]bool // lower-cased domains ("@example.org")
	any     bool            // "*"
}

// buildSenders parses the per-user `from` lists: "alice@example.org" (one
// address), "@example.org" (every address at the domain, not its
// subdomains) or "*" (any address, unvouched).
func (p *rules) buildSenders(users map[string][]string) []error {
	var errs []error
	p.senders = map[string]senderRule{}
	for user, list := range users {
		r := senderRule{addrs: map[string]bool{}, domains: map[string]bool{}}
		for _, e := range list {
			e = strings.ToLower(strings.TrimSpace(e))
			at := strings.LastIndexByte(e, '@')
			switch {
			case e == "*":
				r.any = true
			case at == 0 && len(e) > 1 && !strings.ContainsAny(e[1:], "@ []"):
				r.domains[strings.TrimSuffix(e[1:], ".")] = true
			case at > 0 && at < len(e)-1 && strings.Count(e, "@") == 1 && !strings.ContainsAny(e, " <>[]"):
				r.addrs[e] = true
			default:
				errs = append(errs, fmt.Errorf("%w: submission user %q: from entry %q (want an address, @domain or *)", ErrInvalid, user, e))
			}
		}
		p.senders[user] = r
	}
	return errs
}

// SendAs decides whether the authenticated submission user may use addr
// as a sender address. A user without a `from` list may send as their
// login name if it is an address, and as nothing else.
func (p *rules) SendAs(user, addr string) SendAs {
	a := strings.ToLower(addr)
	r, ok := p.senders[user]
	if !ok {
		if strings.Contains(user, "@") && strings.EqualFold(user, addr) {
			return SendAsOwn
		}
		return SendAsDenied
	}
	if at := strings.LastIndexByte(a, '@'); at > 0 && (r.addrs[a] || r.domains[strings.TrimSuffix(a[at+1:], ".")]) {
		return SendAsOwn
	}
	if r.any {
		return SendAsAny
	}
	return SendAsDenied
}
