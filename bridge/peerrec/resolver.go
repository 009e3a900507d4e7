package peerrec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ErrTemporary marks a lookup that failed for a reason that may pass
// (SERVFAIL, REFUSED, timeout, network error): retry later, never treat the
// domain as having no record.
var ErrTemporary = errors.New("peerrec: temporary lookup failure")

// Config configures a Resolver.
type Config struct {
	// Server is the resolver asked, host:port. For DNSSEC trust it must be
	// a validating resolver reached over a trusted path (loopback): the AD
	// bit it sets is believed as is (RFC 4035 §4.9.3, RFC 6698 §4.1).
	Server string
	// Timeout bounds one lookup (UDP and a TCP retry); default 5 s.
	Timeout time.Duration
	// NegativeTTL is how long "no record" (NXDOMAIN, no gateway record, a
	// malformed record) is cached; default 5 min, negative disables.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache; default 10000.
	MaxEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Result is the outcome of a lookup that did not fail.
type Result struct {
	Found         bool      // a gateway record exists; Record is valid only then
	Record        Record    // the parsed record
	Authenticated bool      // the answer carried the AD bit
	Expires       time.Time // when the cached answer expires (min of record ttl and DNS TTL)
}

// Resolver looks gateway records up through one DNS server and caches the
// answers. It is safe for concurrent use.
type Resolver struct {
	cfg Config

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	res     Result
	err     error // ErrMalformed answers are cached too
	expires time.Time
}

// New returns a Resolver for cfg.
func New(cfg Config) (*Resolver, error) {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("peerrec: resolver address %q: %w", cfg.Server, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = 5 * time.Minute
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Resolver{cfg: cfg, cache: map[string]entry{}}, nil
}

// Lookup returns domain's gateway record. A domain without one is
// Result{Found: false} and no error; a malformed record is an error
// wrapping ErrMalformed; a failed lookup wraps ErrTemporary.
func (r *Resolver) Lookup(ctx context.Context, domain string) (Result, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if _, ok := dns.IsDomainName(domain); !ok || domain == "" {
		return Result{}, fmt.Errorf("%w: bad domain %q", ErrMalformed, domain)
	}
	now := r.cfg.Now()
	if e, ok := r.cached(domain, now); ok {
		return e.res, e.err
	}
	res, dnsTTL, err := r.query(ctx, domain)
	if errors.Is(err, ErrTemporary) {
		return Result{}, err
	}
	ttl := r.cfg.NegativeTTL
	if err == nil && res.Found {
		ttl = min(res.Record.TTL, dnsTTL)
	}
	res.Expires = now.Add(ttl)
	if ttl > 0 {
		r.store(domain, entry{res: res, err: err, expires: res.Expires})
	}
	return res, err
}

// Forget drops domain's cached answer, so the next Lookup asks DNS.
func (r *Resolver) Forget(domain string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cache, strings.TrimSuffix(strings.ToLower(domain), "."))
}

func (r *Resolver) cached(domain string, now time.Time) (entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[domain]
	if !ok || !now.Before(e.expires) {
		return entry{}, false
	}
	return e, true
}

func (r *Resolver) store(domain string, e entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.cfg.MaxEntries {
		now := r.cfg.Now()
		for d, old := range r.cache {
			if !now.Before(old.expires) {
				delete(r.cache, d)
			}
		}
		for d := range r.cache { // still full: drop arbitrary entries
			if len(r.cache) < r.cfg.MaxEntries {
				break
			}
			delete(r.cache, d)
		}
	}
	r.cache[domain] = e
}
