package netguard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ErrURL is wrapped by the refusal of a URL (not https, user info) or of a
// redirect (not https, too many).
var ErrURL = errors.New("netguard: URL refused")

// DefaultMaxRedirects bounds the redirects [Guard.HTTPClient] follows.
const DefaultMaxRedirects = 3

// Dialer is a dialer that connects only to addresses g allows.
func (g Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.Control}
}

// Transport is an HTTP transport that dials through g, ignores the proxy
// environment (a proxy would dial on the guard's behalf) and bounds the
// handshake and the wait for response headers.
func (g Guard) Transport(tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.Dialer(10 * time.Second).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
}

// HTTPConfig configures [Guard.HTTPClient].
type HTTPConfig struct {
	TLS          *tls.Config   // nil: system roots
	Timeout      time.Duration // whole request, body included; 0: none (use a context)
	MaxRedirects int           // 0: DefaultMaxRedirects; <0: none
}

// HTTPClient is a client for URLs a remote party chose: it dials through
// g and follows at most MaxRedirects redirects, each to an https URL
// without user info (CheckURL). The caller checks the first URL.
func (g Guard) HTTPClient(c HTTPConfig) *http.Client {
	max := c.MaxRedirects
	if max == 0 {
		max = DefaultMaxRedirects
	}
	return &http.Client{
		Transport: g.Transport(c.TLS),
		Timeout:   c.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > max {
				return fmt.Errorf("%w: more than %d redirects", ErrURL, max)
			}
			return CheckURL(req.URL)
		},
	}
}

// CheckURL accepts https URLs with a host and without user info.
func CheckURL(u *url.URL) error {
	if u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: scheme %q host %q", ErrURL, u.Scheme, u.Hostname())
	}
	return nil
}
