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
//
// A domain without an entry asks Dynamic (MTA-STS), if set: its policy
// applies, at a level no weaker than Default.
type TLSPolicies struct {
	Default TLSLevel
	Domains map[string]TLSLevel // keys lower case, A-labels
	Dynamic TLSPolicy
}

// Policy implements [TLSPolicy].
func (p TLSPolicies) Policy(ctx context.Context, domain string) (Policy, error) {
	l, explicit := p.level(domain)
	if explicit || p.Dynamic == nil {
		return Policy{Level: l}, nil
	}
	dyn, err := p.Dynamic(ctx, domain)
	if err != nil {
		return dyn, err
	}
	if strength(l) > strength(dyn.Level) {
		dyn.Level = l
	}
	return dyn, nil
}

// strength orders levels from none to verify.
func strength(l TLSLevel) int {
	switch l {
	case TLSNone:
		return 0
	case TLSMay:
		return 1
	case TLSEncrypt:
		return 2
	}
	return 3
}

// Level is the static level for domain.
func (p TLSPolicies) Level(domain string) TLSLevel {
	l, _ := p.level(domain)
	return l
}

func (p TLSPolicies) level(domain string) (TLSLevel, bool) {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	if l, ok := p.Domains[d]; ok {
		return l, true
	}
	for i := strings.IndexByte(d, '.'); i >= 0; i = strings.IndexByte(d[i+1:], '.') + i + 1 {
		if l, ok := p.Domains[d[i:]]; ok {
			return l, true
		}
		if strings.IndexByte(d[i+1:], '.') < 0 {
			break
		}
	}
	return p.Default, false
}
