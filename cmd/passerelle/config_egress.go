package main

import (
	"fmt"
	"net/netip"

	"passerelle/internal/netguard"
)

// EgressConfig is the address filter for connections to destinations a
// remote party chose: uploaded mail on the reverse path, WKD lookups and
// their redirects (internal/netguard). MX hosts use delivery.allow_private.
type EgressConfig struct {
	// AllowNetworks lists networks (CIDR, or a bare address) that may be
	// reached although not public: an upload server on an internal
	// address, loopback in tests. Default none: public addresses only.
	AllowNetworks []string `toml:"allow_networks"`
}

func (e EgressConfig) validate() []error {
	_, errs := e.prefixes()
	return errs
}

func (e EgressConfig) prefixes() ([]netip.Prefix, []error) {
	var ps []netip.Prefix
	var errs []error
	for i, s := range e.AllowNetworks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("egress.allow_networks[%d]: %q is not a network or an address", i, s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, errs
}

// guard is the egress filter; the configuration was validated.
func (e EgressConfig) guard() netguard.Guard {
	ps, _ := e.prefixes()
	return netguard.Guard{Allow: ps}
}
