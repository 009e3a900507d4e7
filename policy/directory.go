package policy

import (
	"fmt"
	"strings"
)

// The directory maps local email addresses to the JIDs of the people who
// read them (BRIEF, identity model). By default an address and the JID
// spelled the same are one person; Config.Directory lists the exceptions.

func (p *rules) buildDirectory(dir map[string]string) []error {
	var errs []error
	p.toJID, p.toEmail = map[string]string{}, map[string]string{}
	for email, j := range dir {
		e, j := strings.ToLower(email), strings.ToLower(j)
		switch {
		case !p.IsLocal(e):
			errs = append(errs, fmt.Errorf("%w: directory: %q is not an address in a local domain", ErrInvalid, email))
		case j == "" || strings.ContainsAny(j, "/ ") || strings.Count(j, "@") != 1:
			errs = append(errs, fmt.Errorf("%w: directory: %q is not a bare JID", ErrInvalid, j))
		case p.toEmail[j] != "":
			errs = append(errs, fmt.Errorf("%w: directory: %q is the JID of both %s and %s", ErrInvalid, j, p.toEmail[j], e))
		}
		p.toJID[e], p.toEmail[j] = j, e
	}
	return errs
}

// JID returns the bare JID that reads mail for the local address email.
func (p *rules) JID(email string) string {
	e := strings.ToLower(email)
	if j, ok := p.toJID[e]; ok {
		return j
	}
	return e
}

// Email returns the local address a bare JID sends as, and whether it may
// send at all: a JID listed in the directory sends as its address; any
// other JID sends as the address spelled the same, if that address is local
// and not assigned to someone else.
func (p *rules) Email(bareJID string) (string, bool) {
	j := strings.ToLower(bareJID)
	if e, ok := p.toEmail[j]; ok {
		return e, true
	}
	if !p.IsLocal(j) {
		return "", false
	}
	if other, ok := p.toJID[j]; ok && other != j {
		return "", false // the address belongs to another JID
	}
	return j, true
}

func (p *rules) buildUsers(users []string) []error {
	if users == nil {
		return nil
	}
	var errs []error
	p.users = map[string]bool{}
	for _, u := range users {
		u = strings.ToLower(u)
		if strings.Count(u, "@") != 1 || strings.HasPrefix(u, "@") || !p.IsLocal(u) || strings.ContainsAny(u, " <>") {
			errs = append(errs, fmt.Errorf("%w: users: %q is not an address in a local domain", ErrInvalid, u))
			continue
		}
		p.users[u] = true
	}
	for e := range p.toJID {
		p.users[e] = true
	}
	return errs
}

// Exists reports whether the local address email may exist: always when
// the gateway was given no user list (it cannot know: a component sees
// neither the XMPP server's accounts nor, for privacy, whether a bare JID
// exists), else only the listed and directory addresses.
func (p *rules) Exists(email string) bool {
	return p.users == nil || p.users[strings.ToLower(email)]
}

// UsersKnown reports whether the gateway has a complete user list.
func (p *rules) UsersKnown() bool { return p.users != nil }
