package delivery

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"

	"passerelle/gateway/queue"
	"passerelle/internal/netguard"
)

// recipientDomain returns the ASCII (A-label) domain of addr.
func recipientDomain(addr string) (string, error) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 {
		return "", localFailure(true, "5.1.3", "recipient %q has no domain", addr)
	}
	d := addr[i+1:]
	if strings.HasPrefix(d, "[") {
		return "", localFailure(true, "5.1.2", "address literals are not supported")
	}
	a, err := idna.Lookup.ToASCII(strings.TrimSuffix(d, "."))
	if err != nil {
		return "", localFailure(true, "5.1.2", "bad recipient domain: %v", err)
	}
	return a, nil
}

// mxHosts returns the hosts to try for domain, best first (RFC 5321 §5.1),
// and whether it is the implicit MX.
func (t *Target) mxHosts(ctx context.Context, domain string) ([]string, bool, error) {
	mxs, err := t.cfg.Resolver.LookupMX(ctx, domain)
	if len(mxs) == 0 {
		if err == nil || isNotFound(err) {
			return []string{domain}, true, nil // implicit MX
		}
		return nil, false, localFailure(false, "4.4.3", "look up MX of %s: %v", domain, err)
	}
	if len(mxs) == 1 && normalHost(mxs[0].Host) == "" {
		// RFC 7505 §3: a null MX; the domain accepts no mail.
		return nil, false, localFailure(true, "5.1.10", "%s does not accept mail (null MX)", domain)
	}
	// net.Resolver shuffles equal preferences; keep that order.
	mxs = slices.Clone(mxs)
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	hosts := make([]string, 0, len(mxs))
	for _, mx := range mxs {
		if h := normalHost(mx.Host); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts, false, nil
}

// hostAddrs returns the addresses to connect to for an MX host, dropping
// those that must not be used. A host without addresses fails permanently,
// with 5.1.2 when it is the implicit MX (the domain itself does not exist).
func (t *Target) hostAddrs(ctx context.Context, host string, implicit bool) ([]netip.Addr, error) {
	ips, err := t.cfg.Resolver.LookupIPAddr(ctx, host)
	if isNotFound(err) || (err == nil && len(ips) == 0) {
		status := "5.4.4"
		if implicit {
			status = "5.1.2"
		}
		return nil, localFailure(true, status, "%s: no such host", host)
	}
	if err != nil {
		return nil, localFailure(false, "4.4.3", "look up %s: %v", host, err)
	}
	var out []netip.Addr
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip.IP)
		if ok && (t.cfg.AllowPrivateAddrs || netguard.Public(a)) {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, localFailure(true, "5.4.4", "%s: no public address", host)
	}
	return out, nil
}

func normalHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// worse returns whichever of two skipped-host errors should be reported:
// a temporary one wins, so that a transient failure is retried.
func worse(cur, next error) error {
	if cur == nil || queue.IsPermanent(cur) {
		return next
	}
	return cur
}
