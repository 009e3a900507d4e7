package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/netguard"
)

// Defaults.
const (
	DefaultTimeout     = 10 * time.Second // one TXT lookup, one policy fetch
	DefaultNegativeTTL = 5 * time.Minute  // a domain without a record is asked again after this
	DefaultMaxEntries  = 10000
	MaxPolicyBytes     = 64 << 10 // §3.3 suggests senders limit the size
)

// TXTResolver looks up TXT records; *net.Resolver implements it. A name
// without records must give a *net.DNSError with IsNotFound set.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Config configures a [Client].
type Config struct {
	Resolver TXTResolver // default net.DefaultResolver
	// HTTP fetches policies; default a client dialling through Guard, with
	// RootCAs (nil: system roots), no redirects and Timeout.
	HTTP    *http.Client
	Guard   netguard.Guard
	RootCAs *x509.CertPool

	Timeout     time.Duration // default DefaultTimeout
	NegativeTTL time.Duration // default DefaultNegativeTTL
	MaxEntries  int           // cache bound; default DefaultMaxEntries
	Now         func() time.Time
	Log         *zap.Logger
}

// Client finds the MTA-STS policy of recipient domains and caches it. It
// is safe for concurrent use.
type Client struct {
	cfg Config
	log *zap.Logger

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	policy  *Policy // nil: no record (negative entry)
	id      string
	expires time.Time
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = cfg.Guard.HTTPClient(netguard.HTTPConfig{TLS: &tls.Config{RootCAs: cfg.RootCAs,
			MinVersion: tls.VersionTLS12}, Timeout: cfg.Timeout, MaxRedirects: -1})
	}
	return &Client{cfg: cfg, log: cfg.Log.Named("mta-sts"), cache: map[string]entry{}}
}

// Lookup returns domain's policy, or nil when it has none. It never fails:
// a lookup or fetch that fails falls back on the cached policy, if any,
// else on none (§5.1), and is logged.
func (c *Client) Lookup(ctx context.Context, domain string) *Policy {
	now := c.cfg.Now()
	cached, ok := c.get(domain)
	valid := ok && now.Before(cached.expires)
	if valid && cached.policy == nil {
		return nil // negative entry
	}
	id, err := c.recordID(ctx, domain)
	switch {
	case errors.Is(err, errNoRecord):
		if valid {
			return cached.policy // §5.1: keep using it until it expires
		}
		c.put(domain, entry{expires: now.Add(c.cfg.NegativeTTL)})
		return nil
	case err != nil:
		c.log.Info("mta-sts record lookup failed", zap.String("domain", domain), zap.Error(err))
		if valid {
			return cached.policy
		}
		return nil
	case valid && cached.id == id:
		return cached.policy
	}
	p, err := c.fetch(ctx, domain)
	if err != nil {
		c.log.Info("mta-sts policy fetch failed", zap.String("domain", domain), zap.Error(err))
		if valid {
			return cached.policy
		}
		return nil
	}
	c.log.Debug("mta-sts policy", zap.String("domain", domain), zap.String("mode", string(p.Mode)),
		zap.Strings("mx", p.MX), zap.Duration("max_age", p.MaxAge))
	c.put(domain, entry{policy: p, id: id, expires: now.Add(p.MaxAge)})
	return p
}

var errNoRecord = errors.New("mtasts: no record")

// recordID returns the id of domain's one STS TXT record (§3.1); none, or
// more than one, is errNoRecord.
func (c *Client) recordID(ctx context.Context, domain string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	txts, err := c.cfg.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if de := (*net.DNSError)(nil); errors.As(err, &de) && de.IsNotFound {
		return "", errNoRecord
	}
	if err != nil {
		return "", fmt.Errorf("look up _mta-sts.%s: %w", domain, err)
	}
	var ids []string
	for _, t := range txts {
		id, ok, err := ParseRecord(t)
		if ok && err != nil {
			return "", fmt.Errorf("_mta-sts.%s: %w", domain, err)
		}
		if ok {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		return "", errNoRecord
	}
	return ids[0], nil
}

// fetch gets and parses https://mta-sts.<domain>/.well-known/mta-sts.txt
// (§3.3): status 200, text/plain, at most MaxPolicyBytes, no redirects.
func (c *Client) fetch(ctx context.Context, domain string) (*Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("policy: HTTP %s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("policy: content type %q, want text/plain", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(body) > MaxPolicyBytes {
		return nil, fmt.Errorf("policy: over %d bytes", MaxPolicyBytes)
	}
	return Parse(string(body))
}

func (c *Client) get(domain string) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[domain]
	return e, ok
}

// put stores e, first dropping expired entries, then any entry, when the
// cache is full.
func (c *Client) put(domain string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cache[domain]; !ok && len(c.cache) >= c.cfg.MaxEntries {
		now := c.cfg.Now()
		for d, old := range c.cache {
			if !now.Before(old.expires) {
				delete(c.cache, d)
			}
		}
		for d := range c.cache {
			if len(c.cache) < c.cfg.MaxEntries {
				break
			}
			delete(c.cache, d)
		}
	}
	c.cache[domain] = e
}
