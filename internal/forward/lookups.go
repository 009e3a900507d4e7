package forward

import (
	"net/netip"
	"sync"
	"time"

	"passerelle/gateway/smtpd"
)

// LookupLimits bound the key lookups an unauthenticated client can make
// the gateway run at RCPT (each uncached recipient costs a PEP query over
// the component link). Answers from the resolver's cache cost nothing and
// are not counted. Zero fields take the defaults.
type LookupLimits struct {
	// PerMinute and Burst are a token bucket per client network (an IPv4
	// address or an IPv6 /64); past it RCPT gets 451 4.7.1. Defaults 60, 30.
	PerMinute float64
	Burst     int
	// PerTransaction caps the uncached lookups of one transaction; past it
	// RCPT gets 452 4.5.3, so the client sends the rest later (RFC 5321
	// §4.5.3.1.10). Default 10.
	PerTransaction int
	// MaxClients bounds the networks tracked at once. Default 10000.
	MaxClients int
}

func (l LookupLimits) withDefaults() LookupLimits {
	if l.PerMinute <= 0 {
		l.PerMinute = 60
	}
	if l.Burst <= 0 {
		l.Burst = 30
	}
	if l.PerTransaction <= 0 {
		l.PerTransaction = 10
	}
	if l.MaxClients <= 0 {
		l.MaxClients = 10000
	}
	return l
}

var errTooManyLookups = &smtpd.Reject{Code: 452, Enhanced: [3]int{4, 5, 3},
	Msg: "Too many new recipients in this transaction, send the rest in another"}

// txn is the forward path's per-transaction state (smtpd.Info.Txn); a
// session runs its commands one at a time, so it needs no lock.
type txn struct{ lookups int }

// chargeLookup decides whether Rcpt may resolve addr's key for client s.
// Authenticated users are not limited.
func (f *Forward) chargeLookup(s *smtpd.Info, addr string) error {
	if s.AuthUser != "" || f.cfg.Keys.Cached(addr) {
		return nil
	}
	t, _ := s.Txn.(*txn)
	if t != nil && t.lookups >= f.lookupLimits.PerTransaction {
		return errTooManyLookups
	}
	if !f.lookups.allow(clientNet(s.Remote), f.cfg.Now()) {
		return smtpd.RateLimited
	}
	if t != nil {
		t.lookups++
	}
	return nil
}

// clientNet groups clients as smtpd's per-IP limit does: an IPv4 address,
// an IPv6 /64.
func clientNet(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// buckets is a token bucket per client network.
type buckets struct {
	rate  float64 // tokens per second
	burst float64
	max   int

	mu sync.Mutex
	m  map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(l LookupLimits) *buckets {
	return &buckets{rate: l.PerMinute / 60, burst: float64(l.Burst), max: l.MaxClients, m: map[netip.Prefix]*bucket{}}
}

func (b *buckets) allow(key netip.Prefix, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.m[key]
	if !ok {
		if len(b.m) >= b.max {
			b.evict(now)
		}
		k = &bucket{tokens: b.burst, last: now}
		b.m[key] = k
	}
	k.tokens = min(b.burst, k.tokens+now.Sub(k.last).Seconds()*b.rate)
	k.last = now
	if k.tokens < 1 {
		return false
	}
	k.tokens--
	return true
}

// evict drops the networks whose bucket has refilled (they would start
// full anyway), else one arbitrary network.
func (b *buckets) evict(now time.Time) {
	for key, k := range b.m {
		if k.tokens+now.Sub(k.last).Seconds()*b.rate >= b.burst {
			delete(b.m, key)
		}
	}
	for key := range b.m {
		if len(b.m) < b.max {
			return
		}
		delete(b.m, key)
	}
}
