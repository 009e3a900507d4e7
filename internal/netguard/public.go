package netguard

import "net/netip"

// notPublic are the special-purpose blocks (RFC 6890 and the IANA
// registries it created) that are not reachable, or not meant to be
// reached, as ordinary Internet hosts.
var notPublic = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", RFC 791; 0.0.0.0 dials the local host
		"10.0.0.0/8",      // private, RFC 1918
		"100.64.0.0/10",   // shared address space (CGNAT), RFC 6598
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link local (cloud metadata services live here)
		"172.16.0.0/12",   // private, RFC 1918
		"192.0.0.0/24",    // IETF protocol assignments, RFC 6890
		"192.0.2.0/24",    // documentation, RFC 5737
		"192.88.99.0/24",  // 6to4 relay anycast, deprecated by RFC 7526
		"192.168.0.0/16",  // private, RFC 1918
		"198.18.0.0/15",   // benchmarking, RFC 2544
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
		"::/96",           // unspecified, loopback, deprecated IPv4-compatible
		"64:ff9b:1::/48",  // local-use IPv4/IPv6 translation, RFC 8215
		"100::/64",        // discard only, RFC 6666
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHIDs, ...)
		"2001:db8::/32",   // documentation, RFC 3849
		"3fff::/20",       // documentation, RFC 9637
		"5f00::/16",       // segment routing SIDs, RFC 9602
		"fc00::/7",        // unique local, RFC 4193
		"fe80::/10",       // link local
		"fec0::/10",       // site local, deprecated by RFC 3879
		"ff00::/8",        // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// Public reports whether a is a public unicast address. Addresses that
// embed an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by it, so
// ::ffff:127.0.0.1 and 64:ff9b::a00:1 are not public.
func Public(a netip.Addr) bool {
	a = embedded(a.WithZone(""))
	if !a.IsValid() || !a.IsGlobalUnicast() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// embedded returns the IPv4 address inside an IPv4-mapped, NAT64 or 6to4
// address, and a itself otherwise.
func embedded(a netip.Addr) netip.Addr {
	if a.Is4In6() {
		return a.Unmap()
	}
	b := a.As16()
	switch {
	case a.Is6() && nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case a.Is6() && sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return a
}
