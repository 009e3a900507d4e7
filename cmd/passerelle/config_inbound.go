package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"passerelle/gateway/authres"
	"passerelle/internal/forward"
)

// InboundConfig is sender authentication of mail arriving on the MX
// listener (DKIM and DMARC of the From domain; gateway/authres).
type InboundConfig struct {
	Verify bool `toml:"verify"`
	// Unauthenticated is what happens to mail whose sender is not
	// authenticated: "mark" delivers it with a warning line; "reject"
	// also refuses (550 5.7.1) mail failing a DMARC p=reject policy.
	Unauthenticated string `toml:"unauthenticated"`
	// DNSServer, if set, is the host:port of the DNS server for DKIM key
	// and DMARC record lookups instead of the system resolver.
	DNSServer string   `toml:"dns_server"`
	Timeout   Duration `toml:"timeout"` // all DNS for one message
}

func defaultInbound() InboundConfig {
	return InboundConfig{Verify: true, Unauthenticated: "mark", Timeout: Duration{authres.DefaultTimeout}}
}

func (in InboundConfig) validate() []error {
	var errs []error
	switch in.Unauthenticated {
	case "mark", "reject":
	default:
		errs = append(errs, fmt.Errorf("inbound.unauthenticated: %q (want mark or reject)", in.Unauthenticated))
	}
	if err := checkAddr("inbound.dns_server", in.DNSServer, false); err != nil {
		errs = append(errs, err)
	}
	if in.Timeout.Duration <= 0 || in.Timeout.Duration > time.Minute {
		errs = append(errs, fmt.Errorf("inbound.timeout: %v (want more than 0s, at most 1m)", in.Timeout.Duration))
	}
	return errs
}

// verifier builds the forward path's sender verifier; nil when
// inbound.verify is off, which makes every MX sender unverified.
func (g *gateway) verifier() (forward.Verifier, error) {
	in := g.cfg.Inbound
	if !in.Verify {
		g.log.Warn("inbound.verify is off: every MX sender is treated as unverified (marked, no Autocrypt key learned)")
		return nil, nil
	}
	v, err := authres.New(authres.Config{Hostname: g.cfg.Hostname, Resolver: dnsResolver(in.DNSServer),
		Timeout: in.Timeout.Duration})
	if err != nil {
		return nil, fmt.Errorf("inbound: %w", err)
	}
	return v, nil
}

// dnsResolver returns a resolver that asks server (host:port), or nil
// (the system resolver) when server is empty.
func dnsResolver(server string) *net.Resolver {
	if server == "" {
		return nil
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}
