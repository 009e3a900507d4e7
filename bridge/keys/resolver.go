package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
)

// Source is one place recipient keys are found (keyring, XEP-0373 PEP,
// WKD, Autocrypt, VKS). Lookup returns an error wrapping ErrNoKey when the
// source has no key for addr; any other error counts as temporary. A
// Source vouches that the key belongs to addr.
type Source interface {
	Name() string
	Lookup(ctx context.Context, addr string) (*openpgp.Entity, error)
}

// ResolverConfig configures a Resolver. Zero durations take the defaults.
type ResolverConfig struct {
	Sources       []Source      // tried in order
	TTL           time.Duration // found keys; default 1h
	NegativeTTL   time.Duration // "no key" answers; default 10m
	LookupTimeout time.Duration // per source; default 10s
	MaxEntries    int           // cached addresses; default 10000
	Log           *zap.Logger   // nil: no logging
	Now           func() time.Time
	// HashAddr is how addresses appear in logs and errors
	// ([InstallSecret.AddressHasher]); default a randomly keyed one.
	HashAddr func(string) string
	// Metrics counts lookups by source and result; nil counts nothing.
	Metrics Metrics
}

// Metrics receives one count per key lookup: source is a Source's Name or
// "cache", result "found", "none", "unusable" or "error". Defined here, by
// its consumer; cmd/passerelle implements it with Prometheus.
type Metrics interface {
	Lookup(source, result string)
}

type nopMetrics struct{}

func (nopMetrics) Lookup(string, string) {}

// Result is a resolved recipient key.
type Result struct {
	Key         *openpgp.Entity
	Fingerprint Fingerprint
	Source      string      // Name of the Source that gave the key
	Changed     bool        // differs from the key last resolved for the address
	Previous    Fingerprint // that key, when Changed
}

// Resolver finds usable recipient keys through its Sources, with a cache,
// a negative cache and single-flight lookups per address.
type Resolver struct {
	cfg    ResolverConfig
	log    *zap.Logger
	cache  *cache
	flight flight[Result]
}

// NewResolver returns a Resolver for cfg.
func NewResolver(cfg ResolverConfig) *Resolver {
	cfg.TTL = orDefault(cfg.TTL, time.Hour)
	cfg.NegativeTTL = orDefault(cfg.NegativeTTL, 10*time.Minute)
	cfg.LookupTimeout = orDefault(cfg.LookupTimeout, 10*time.Second)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HashAddr == nil {
		cfg.HashAddr = RandomAddressHasher()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	log := zap.NewNop()
	if cfg.Log != nil {
		log = cfg.Log.Named("resolver")
	}
	return &Resolver{cfg: cfg, log: log, cache: newCache(cfg.MaxEntries, cfg.Now)}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Resolve returns a usable key for addr. The error wraps ErrNoKey when no
// source has a usable key (and then also the reason an unusable key was
// refused, e.g. ErrRevoked), or is a *TemporaryError when a source failed
// and none had a key; temporary failures are not cached.
func (r *Resolver) Resolve(ctx context.Context, addr string) (Result, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return Result{}, err
	}
	if res, err, ok := r.cache.get(a, r.cfg.Now()); ok {
		r.cfg.Metrics.Lookup("cache", lookupResult(err))
		return res, err
	}
	return r.flight.do(ctx, a, func() (Result, error) {
		return r.lookup(context.WithoutCancel(ctx), a)
	})
}

// Cached reports whether Resolve would answer addr from the cache (a key
// or "no key"), without asking any Source: callers that must bound the
// lookups others can trigger count only the uncached ones.
func (r *Resolver) Cached(addr string) bool {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return true // Resolve fails at once, asking nobody
	}
	_, _, ok := r.cache.get(a, r.cfg.Now())
	return ok
}

// Forget drops the cached answer for addr (the key history stays).
func (r *Resolver) Forget(addr string) {
	if a, err := NormalizeAddress(addr); err == nil {
		r.cache.drop(a)
	}
}

func (r *Resolver) lookup(ctx context.Context, a string) (Result, error) {
	var temp, unusable []error
	var names []string
	for _, src := range r.cfg.Sources {
		e, err := r.lookupOne(ctx, src, a)
		r.cfg.Metrics.Lookup(src.Name(), lookupResult(err))
		switch {
		case err == nil:
			return r.found(a, src.Name(), e), nil
		case errors.Is(err, ErrNoKey):
		case isUnusable(err):
			unusable = append(unusable, err)
		default:
			temp = append(temp, err)
			names = append(names, src.Name())
		}
	}
	if len(temp) > 0 {
		return Result{}, &TemporaryError{Source: strings.Join(names, ","), Err: errors.Join(temp...)}
	}
	err := fmt.Errorf("resolve %s: %w", r.cfg.HashAddr(a), ErrNoKey)
	if len(unusable) > 0 {
		err = fmt.Errorf("resolve %s: %w: %w", r.cfg.HashAddr(a), ErrNoKey, errors.Join(unusable...))
	}
	r.cache.put(a, Result{}, err, r.cfg.Now().Add(r.cfg.NegativeTTL))
	return Result{}, err
}

// lookupOne asks one source under the per-lookup timeout and checks the key.
func (r *Resolver) lookupOne(ctx context.Context, src Source, a string) (*openpgp.Entity, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LookupTimeout)
	defer cancel()
	e, err := src.Lookup(ctx, a)
	if err != nil {
		if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrAddressMismatch) {
			return nil, fmt.Errorf("%s: %w: %w", src.Name(), ErrNoKey, err)
		}
		return nil, fmt.Errorf("%s: %w", src.Name(), err)
	}
	if e == nil {
		return nil, fmt.Errorf("%s: %w", src.Name(), ErrNoKey)
	}
	if err := Usable(e, r.cfg.Now()); err != nil {
		r.log.Info("unusable key refused", zap.String("addr", r.cfg.HashAddr(a)),
			zap.String("source", src.Name()), zap.Error(err))
		return nil, fmt.Errorf("%s: %w", src.Name(), err)
	}
	return e, nil
}

func lookupResult(err error) string {
	switch {
	case err == nil:
		return "found"
	case isUnusable(err):
		return "unusable"
	case errors.Is(err, ErrNoKey):
		return "none"
	default:
		return "error"
	}
}

func isUnusable(err error) bool {
	for _, s := range []error{ErrRevoked, ErrExpired, ErrWeakKey, ErrNoEncryptionKey, ErrInvalidAddress} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func (r *Resolver) found(a, src string, e *openpgp.Entity) Result {
	res := Result{Key: e, Fingerprint: FingerprintOf(e), Source: src}
	if prev, ok := r.cache.lastSeen(a); ok && prev != res.Fingerprint {
		res.Changed, res.Previous = true, prev
		r.log.Warn("recipient key changed", zap.String("addr", r.cfg.HashAddr(a)),
			zap.String("old", string(prev)), zap.String("new", string(res.Fingerprint)),
			zap.String("source", src))
	}
	r.cache.put(a, res, nil, r.cfg.Now().Add(r.cfg.TTL))
	return res
}
