package policy

import "sync/atomic"

// Policy holds the rules. Build it with New. Each call reads one
// immutable set of rules; Replace swaps in another set at once (a
// configuration reload), so every holder of the *Policy sees the new rules
// from its next call on. Safe for concurrent use.
type Policy struct {
	cur atomic.Pointer[rules]
}

func live(r *rules) *Policy {
	p := &Policy{}
	p.cur.Store(r)
	return p
}

// Replace makes next's rules the current ones.
func (p *Policy) Replace(next *Policy) { p.cur.Store(next.cur.Load()) }

// Decide returns the policy for one recipient address.
func (p *Policy) Decide(addr string) Decision { return p.cur.Load().Decide(addr) }

// IsLocal reports whether addr is in a local domain.
func (p *Policy) IsLocal(addr string) bool { return p.cur.Load().IsLocal(addr) }

// JID returns the bare JID that reads a local address (the directory).
func (p *Policy) JID(email string) string { return p.cur.Load().JID(email) }

// Email returns the local address a bare JID reads, if any.
func (p *Policy) Email(bareJID string) (string, bool) { return p.cur.Load().Email(bareJID) }

// Exists reports whether a local address exists (see rules.Exists).
func (p *Policy) Exists(email string) bool { return p.cur.Load().Exists(email) }

// UsersKnown reports whether the gateway knows every local address.
func (p *Policy) UsersKnown() bool { return p.cur.Load().UsersKnown() }

// SendAs says whether a submission user may send as addr.
func (p *Policy) SendAs(user, addr string) SendAs { return p.cur.Load().SendAs(user, addr) }
