package peertrust

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"go.uber.org/zap"

	"passerelle/bridge/peerrec"
)

// Mode is how a peer domain's key is trusted.
type Mode string

const (
	Pinned Mode = "pinned" // fingerprint from the configuration
	DNSSEC Mode = "dnssec" // record with the AD bit
	TOFU   Mode = "tofu"   // pin at first contact
)

// ParseMode checks a configured mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Pinned, DNSSEC, TOFU:
		return m, nil
	}
	return "", fmt.Errorf("peertrust: trust %q (want pinned, dnssec or tofu)", s)
}

// Verdict is the outcome of a Check.
type Verdict int

const (
	Accept Verdict = iota // send / take the mail
	Hold                  // temporary: retry later; the operator may decide
	Refuse                // permanent
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Hold:
		return "hold"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Decision is a Check's answer. Reason is a precise sentence for logs,
// DSNs, `policy explain` and `peers list`.
type Decision struct {
	Verdict Verdict
	Mode    Mode
	Reason  string
}

// Domain is a per-domain trust setting.
type Domain struct {
	Mode        Mode
	Fingerprint []byte // Pinned only: 20 or 32 bytes
}

// Config configures a Checker.
type Config struct {
	Default Mode              // for domains not in Domains; "" means TOFU
	Domains map[string]Domain // lower-case domain -> setting
	Store   *Store            // required (TOFU pins; last-seen of every mode)
	Log     *zap.Logger
	Now     func() time.Time
}

// Checker takes trust decisions. It is safe for concurrent use.
type Checker struct {
	cfg Config
	log *zap.Logger
}

// touchEvery bounds how often an unchanged pin's last-seen and lifetime
// are written: an fsync per message would be the store's whole cost.
const touchEvery = time.Minute

// New validates cfg and returns a Checker.
func New(cfg Config) (*Checker, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("peertrust: no store")
	}
	if cfg.Default == "" {
		cfg.Default = TOFU
	}
	if _, err := ParseMode(string(cfg.Default)); err != nil || cfg.Default == Pinned {
		return nil, fmt.Errorf("peertrust: default trust %q (want dnssec or tofu: pinned needs a fingerprint per domain)", cfg.Default)
	}
	doms := make(map[string]Domain, len(cfg.Domains))
	for d, s := range cfg.Domains {
		if _, err := ParseMode(string(s.Mode)); err != nil {
			return nil, fmt.Errorf("peertrust: domain %s: %w", d, err)
		}
		n := len(s.Fingerprint)
		if s.Mode == Pinned && n != 20 && n != 32 {
			return nil, fmt.Errorf("peertrust: domain %s: pinned needs a fingerprint of 20 or 32 bytes, have %d", d, n)
		}
		if s.Mode != Pinned && n != 0 {
			return nil, fmt.Errorf("peertrust: domain %s: a fingerprint is only for trust = pinned", d)
		}
		doms[normalize(d)] = s
	}
	cfg.Domains = doms
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Checker{cfg: cfg, log: cfg.Log.Named("peertrust")}, nil
}

// ModeFor returns the trust mode of domain.
func (c *Checker) ModeFor(domain string) Mode {
	if s, ok := c.cfg.Domains[normalize(domain)]; ok {
		return s.Mode
	}
	return c.cfg.Default
}

// Check decides whether domain's peer, described by its record rec (with
// authenticated = the answer's AD bit) and serving the key whose
// fingerprint is served, is trusted. An error (store I/O) means no
// decision: treat it as temporary.
func (c *Checker) Check(ctx context.Context, domain string, rec peerrec.Record, authenticated bool, served []byte) (Decision, error) {
	domain = normalize(domain)
	mode := c.ModeFor(domain)
	refuse := func(format string, args ...any) (Decision, error) {
		return Decision{Verdict: Refuse, Mode: mode, Reason: fmt.Sprintf(format, args...)}, nil
	}
	if len(served) == 0 {
		return refuse("%s serves no domain key", rec.JID)
	}
	if !bytes.Equal(served, rec.Fingerprint) {
		return refuse("the key served by %s (%s) is not the one in the _passerelle record of %s (%s)",
			rec.JID, hexFpr(served), domain, hexFpr(rec.Fingerprint))
	}
	switch mode {
	case Pinned:
		want := c.cfg.Domains[domain].Fingerprint
		if !bytes.Equal(rec.Fingerprint, want) {
			return refuse("the _passerelle record of %s has key %s, not the key %s pinned in the configuration",
				domain, hexFpr(rec.Fingerprint), hexFpr(want))
		}
		return Decision{Verdict: Accept, Mode: mode, Reason: "key matches the fingerprint pinned in the configuration"}, nil
	case DNSSEC:
		if !authenticated {
			return refuse("the _passerelle record of %s is not DNSSEC-validated (no AD bit from the resolver) and trust is dnssec", domain)
		}
		return c.follow(ctx, domain, rec, authenticated)
	default:
		return c.tofu(ctx, domain, rec, authenticated)
	}
}

func hexFpr(b []byte) string { return hex.EncodeToString(b) }
