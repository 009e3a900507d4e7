package forward

import (
	"net/netip"

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
	if !f.lookups.Allow(clientNet(s.Remote).String()) {
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
