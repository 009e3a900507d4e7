package keys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/internal/netguard"
)

// DefaultWKDTimeout bounds one WKD lookup (both methods) when WKD.Timeout is 0.
const DefaultWKDTimeout = 10 * time.Second

// WKD fetches keys from the Web Key Directory. It is a Source named "wkd".
//
// The domain is the recipient's, which on the reverse path a local user
// chooses, and its server chooses the redirects: Client must be one for
// party-chosen URLs (NewWKDClient), not http.DefaultClient, which follows
// ten redirects to http:// and internal addresses.
type WKD struct {
	Client  *http.Client  // nil: NewWKDClient(netguard.Guard{}) per lookup
	Timeout time.Duration // whole lookup; 0: DefaultWKDTimeout
}

// NewWKDClient is the HTTP client WKD lookups need: connections only to
// the addresses g allows (checked when dialling), no proxy, at most
// netguard.DefaultMaxRedirects redirects and only to https. Bodies are
// bounded by ReadKeys (MaxKeyBytes), time by WKD.Timeout (the lookup's
// context).
func NewWKDClient(g netguard.Guard) *http.Client {
	return g.HTTPClient(netguard.HTTPConfig{})
}

// Name implements Source.
func (w WKD) Name() string { return "wkd" }

// Lookup tries the advanced method, then the direct method, and returns
// the first key served for addr that carries addr in a self-signed user ID.
// It returns ErrNoKey when both methods answer that there is none, and a
// *TemporaryError when a method failed in a way that may pass.
func (w WKD) Lookup(ctx context.Context, addr string) (*openpgp.Entity, error) {
	adv, dir, err := WKDURLs(addr)
	if err != nil {
		return nil, err
	}
	t := w.Timeout
	if t <= 0 {
		t = DefaultWKDTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	e, errAdv := w.fetch(ctx, adv, addr)
	if errAdv == nil {
		return e, nil
	}
	e, errDir := w.fetch(ctx, dir, addr)
	if errDir == nil {
		return e, nil
	}
	if errors.Is(errAdv, ErrNoKey) && errors.Is(errDir, ErrNoKey) {
		return nil, fmt.Errorf("wkd: %w (advanced: %w; direct: %w)", ErrNoKey, errAdv, errDir)
	}
	return nil, &TemporaryError{Source: "wkd", Err: fmt.Errorf("advanced: %w; direct: %w", errAdv, errDir)}
}

// fetch gets one URL. A 404/410 answer, or keys that do not carry addr,
// give ErrNoKey; network errors and other statuses give plain errors.
func (w WKD) fetch(ctx context.Context, url, addr string) (*openpgp.Entity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	c := w.Client
	if c == nil {
		c = NewWKDClient(netguard.Guard{})
		defer c.CloseIdleConnections()
	}
	resp, err := c.Do(req)
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err) // no openpgpkey subdomain: §3.1
	}
	if errors.Is(err, netguard.ErrRefused) || errors.Is(err, netguard.ErrURL) {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err) // will not pass later either
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: %s", ErrNoKey, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("wkd answer %s", resp.Status)
	}
	el, err := ReadKeys(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	for _, e := range el {
		if HasAddress(e, addr) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrNoKey, ErrAddressMismatch)
}
