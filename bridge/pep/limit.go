package pep

import (
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/internal/ratelimit"
)

// NewPuppetLimits bound how many puppet keys XEP-0373 queries may make: a
// key that exists is always served, but making one costs a key generation,
// a certification by the domain key and a file in keys.dir, so a query for
// a puppet that has none yet is charged to token buckets. Each value is new
// puppets per hour, which is also the burst. Zero takes the default.
type NewPuppetLimits struct {
	PerUser       int // per requesting bare JID; default 30
	PerUserDomain int // per requesting JID's domain; default 300
	PerMailDomain int // per correspondent's mail domain (bob@gmail.com: gmail.com); default 100
	Total         int // all requests together; default 600
}

func (l NewPuppetLimits) withDefaults() NewPuppetLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.PerUser, 30)
	def(&l.PerUserDomain, 300)
	def(&l.PerMailDomain, 100)
	def(&l.Total, 600)
	return l
}

// newPuppets charges a new puppet to every bucket that applies, or to none.
type newPuppets struct {
	mu         sync.Mutex // makes Has-then-Take atomic across the buckets
	user       *ratelimit.Keyed
	userDomain *ratelimit.Keyed
	mailDomain *ratelimit.Keyed
	total      *ratelimit.Keyed
}

func newNewPuppets(l NewPuppetLimits, now func() time.Time) *newPuppets {
	l = l.withDefaults()
	mk := func(n int) *ratelimit.Keyed {
		c := ratelimit.PerHour(n)
		c.Now = now
		return ratelimit.New(c)
	}
	return &newPuppets{user: mk(l.PerUser), userDomain: mk(l.PerUserDomain),
		mailDomain: mk(l.PerMailDomain), total: mk(l.Total)}
}

// allow takes one token from each bucket of the requester from and the
// correspondent's mail domain, or, if any is empty, from none and returns
// the name of the limit hit.
func (n *newPuppets) allow(from jid.JID, mailDomain string) (string, bool) {
	checks := []struct {
		name string
		k    *ratelimit.Keyed
		key  string
	}{
		{"per user", n.user, from.Bare().String()},
		{"per user domain", n.userDomain, from.Domainpart()},
		{"per mail domain", n.mailDomain, strings.ToLower(mailDomain)},
		{"total", n.total, ""},
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range checks {
		if !c.k.Has(c.key) {
			return c.name, false
		}
	}
	for _, c := range checks {
		c.k.Take(c.key)
	}
	return "", true
}
