package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"passerelle/bridge/peerrec"
	"passerelle/bridge/peertrust"
)

// PeersConfig is the peer route's discovery and trust ([peers]) and what
// this gateway publishes in its own _passerelle record.
type PeersConfig struct {
	// Resolver is the DNS server (host:port) asked for _passerelle records;
	// empty: the first nameserver of /etc/resolv.conf. For trust = "dnssec"
	// it must be a validating resolver on a trusted path (loopback).
	Resolver      string   `toml:"resolver"`
	LookupTimeout Duration `toml:"lookup_timeout"`
	NegativeTTL   Duration `toml:"negative_ttl"`
	// Trust is the default for peer domains: "tofu" or "dnssec".
	Trust string `toml:"trust"`
	// Store is the pin file; default keys.dir/peers.json.
	Store string `toml:"store"`
	// Policy and TTL are what `keys dns` publishes for our domains.
	Policy string   `toml:"policy"`
	TTL    Duration `toml:"ttl"`
	// Domain overrides the trust of single peer domains.
	Domain []PeerDomainConfig `toml:"domain"`
	// Retry is the delay before another attempt at a transfer after a
	// temporary failure (peer down, key change held); default 1m.
	Retry Duration `toml:"retry"`
	// MaxConcurrent bounds the transfers in flight to one peer domain.
	MaxConcurrent int `toml:"max_concurrent"`
	// RatePerMinute and Burst bound the transfers one sending gateway may
	// make to us; past them it is told to wait (4.7.1). 0: no limit.
	RatePerMinute int `toml:"rate_per_minute"`
	Burst         int `toml:"burst"`
	// DedupDir keeps the acks of transfers received, for duplicate
	// suppression; default spool.dir/peer-dedup.
	DedupDir string `toml:"dedup_dir"`
	// SMTPFallback sends mail for a peer domain that publishes
	// policy=mixed over SMTP (the [delivery] route) when its gateway cannot
	// be used at RCPT, instead of 451 until it can. Read at start.
	SMTPFallback bool `toml:"smtp_fallback"`
}

// PeerDomainConfig is one [[peers.domain]].
type PeerDomainConfig struct {
	Name        string `toml:"name"`
	Trust       string `toml:"trust"`       // pinned, dnssec or tofu
	Fingerprint string `toml:"fingerprint"` // hex (spaces allowed); pinned only
}

func defaultPeers() PeersConfig {
	return PeersConfig{LookupTimeout: Duration{5 * time.Second}, NegativeTTL: Duration{5 * time.Minute},
		Trust: string(peertrust.TOFU), Policy: string(peerrec.Strict), TTL: Duration{24 * time.Hour},
		Retry: Duration{time.Minute}, MaxConcurrent: 4, RatePerMinute: 600, Burst: 100}
}

func (c *Config) validatePeers() []error {
	p := c.Peers
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkAddr("peers.resolver", p.Resolver, false); err != nil {
		errs = append(errs, err)
	}
	if d := p.LookupTimeout.Duration; d <= 0 || d > time.Minute {
		add("peers.lookup_timeout: %v (want more than 0s, at most 1m)", d)
	}
	if d := p.NegativeTTL.Duration; d < 0 || d > 24*time.Hour {
		add("peers.negative_ttl: %v (want 0s to 24h)", d)
	}
	if m, err := peertrust.ParseMode(p.Trust); err != nil || m == peertrust.Pinned {
		add("peers.trust: %q (want tofu or dnssec; pinned is per [[peers.domain]] with its fingerprint)", p.Trust)
	}
	switch peerrec.Policy(p.Policy) {
	case peerrec.Strict, peerrec.Mixed:
	default:
		add("peers.policy: %q (want strict or mixed)", p.Policy)
	}
	if d := p.TTL.Duration; d < peerrec.MinTTL || d > peerrec.MaxTTL || d%time.Second != 0 {
		add("peers.ttl: %v (want whole seconds, %v to %v)", d, peerrec.MinTTL, peerrec.MaxTTL)
	}
	if d := p.Retry.Duration; d <= 0 || d > 24*time.Hour {
		add("peers.retry: %v (want more than 0s, at most 24h)", d)
	}
	if p.MaxConcurrent < 1 || p.MaxConcurrent > 1000 {
		add("peers.max_concurrent: %d (want 1 to 1000)", p.MaxConcurrent)
	}
	if p.RatePerMinute < 0 || p.Burst < 0 || (p.RatePerMinute > 0 && p.Burst < 1) {
		add("peers.rate_per_minute, peers.burst: %d, %d (want 0 for no limit, or both positive)", p.RatePerMinute, p.Burst)
	}
	if _, err := p.trustDomains(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	return errs
}

// trustDomains converts [[peers.domain]] into peertrust settings.
func (p PeersConfig) trustDomains() (map[string]peertrust.Domain, error) {
	out := map[string]peertrust.Domain{}
	seen := map[string]bool{}
	var errs []error
	for i, d := range p.Domain {
		key := fmt.Sprintf("peers.domain[%d]", i)
		name := strings.ToLower(strings.TrimSuffix(d.Name, "."))
		if _, ok := dns.IsDomainName(name); !ok || name == "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is not a domain", key, d.Name))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("%s.name: %s listed twice", key, name))
			continue
		}
		seen[name] = true
		mode, err := peertrust.ParseMode(d.Trust)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.trust: %q (want pinned, dnssec or tofu)", key, d.Trust))
			continue
		}
		var fp []byte
		if d.Fingerprint != "" {
			fp, err = hex.DecodeString(strings.ReplaceAll(d.Fingerprint, " ", ""))
			if err != nil || (len(fp) != 20 && len(fp) != 32) {
				errs = append(errs, fmt.Errorf("%s.fingerprint: want 40 or 64 hex digits", key))
				continue
			}
		}
		switch {
		case mode == peertrust.Pinned && fp == nil:
			errs = append(errs, fmt.Errorf("%s.fingerprint: required with trust = \"pinned\"", key))
			continue
		case mode != peertrust.Pinned && fp != nil:
			errs = append(errs, fmt.Errorf("%s.fingerprint: only with trust = \"pinned\"", key))
			continue
		}
		out[name] = peertrust.Domain{Mode: mode, Fingerprint: fp}
	}
	return out, errors.Join(errs...)
}

// peerStorePath is peers.store, default keys.dir/peers.json.
func (c *Config) peerStorePath() string {
	if c.Peers.Store != "" {
		return c.Peers.Store
	}
	return filepath.Join(c.Keys.Dir, "peers.json")
}

// peerResolverAddr is peers.resolver or the first nameserver of
// /etc/resolv.conf.
func (c *Config) peerResolverAddr() (string, error) {
	addr, err := resolverAddr(c.Peers.Resolver)
	if err != nil {
		return "", fmt.Errorf("peers.resolver unset and %w", err)
	}
	return addr, nil
}

// resolverAddr is server, or the first nameserver of /etc/resolv.conf.
func resolverAddr(server string) (string, error) {
	if server != "" {
		return server, nil
	}
	rc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("/etc/resolv.conf unreadable: %w", err)
	}
	if len(rc.Servers) == 0 {
		return "", errors.New("/etc/resolv.conf names no nameserver")
	}
	return net.JoinHostPort(rc.Servers[0], rc.Port), nil
}

// peerResolver builds the _passerelle record resolver from [peers].
func (c *Config) peerResolver() (*peerrec.Resolver, error) {
	addr, err := c.peerResolverAddr()
	if err != nil {
		return nil, err
	}
	neg := c.Peers.NegativeTTL.Duration
	if neg == 0 {
		neg = -1 // peers.negative_ttl = "0s": no negative cache
	}
	return peerrec.New(peerrec.Config{Server: addr, Timeout: c.Peers.LookupTimeout.Duration, NegativeTTL: neg})
}

// peerTrust opens the pin store and builds the trust checker from [peers].
func (c *Config) peerTrust(log *zap.Logger) (*peertrust.Checker, *peertrust.Store, error) {
	st, err := peertrust.OpenStore(c.peerStorePath(), nil)
	if err != nil {
		return nil, nil, err
	}
	doms, err := c.Peers.trustDomains()
	if err != nil {
		return nil, nil, err
	}
	chk, err := peertrust.New(peertrust.Config{Default: peertrust.Mode(c.Peers.Trust), Domains: doms, Store: st, Log: log})
	if err != nil {
		return nil, nil, err
	}
	return chk, st, nil
}
