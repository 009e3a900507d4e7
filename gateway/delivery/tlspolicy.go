package delivery

import (
	"context"
	"strings"
)

// TLSPolicies is a static TLS policy, like Postfix's
// smtp_tls_security_level with smtp_tls_policy_maps: a level per
// recipient domain, else Default. A key "example.org" matches that
// domain only; ".example.org" matches its subdomains. The most specific
// entry wins.
type TLSPolicies struct {
	Default TLSLevel
	Domains map[string]TLSLevel // keys lower case, A-labels
}

// Policy implements [TLSPolicy].
func (p TLSPolicies) Policy(_ context.Context, domain string) (Policy, error) {
	return Policy{Level: p.Level(domain)}, nil
}

// Level is the level for domain.
func (p TLSPolicies) Level(domain string) TLSLevel {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	if l, ok := p.Domains[d]; ok {
		return l
	}
	for i := strings.IndexByte(d, '.'); i >= 0; i = strings.IndexByte(d[i+1:], '.') + i + 1 {
		if l, ok := p.Domains[d[i:]]; ok {
			return l
		}
		if strings.IndexByte(d[i+1:], '.') < 0 {
			break
		}
	}
	return p.Default
}
