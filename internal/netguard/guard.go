package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrRefused is wrapped by every refusal of an address.
var ErrRefused = errors.New("netguard: address not allowed")

// Guard is an egress address filter. The zero Guard allows public unicast
// addresses only.
type Guard struct {
	// Allow lists networks that may be reached although they are not
	// public: an internal upload server, loopback in tests.
	Allow []netip.Prefix
}

// AllowAll returns networks covering every address, for configurations
// that switch the filter off (e.g. delivery.allow_private).
func AllowAll() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
}

// RefusedError is a refused address. It wraps ErrRefused.
type RefusedError struct {
	Addr netip.Addr
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v: %s is not a public address", ErrRefused, e.Addr)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// Check returns nil if a may be connected to, else a *RefusedError.
func (g Guard) Check(a netip.Addr) error {
	if !a.IsValid() {
		return &RefusedError{Addr: a}
	}
	a = a.WithZone("")
	for _, p := range g.Allow {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return nil
		}
	}
	if !Public(a) {
		return &RefusedError{Addr: a}
	}
	return nil
}

// Control is a [net.Dialer].Control function: it refuses to connect to an
// address Check refuses. address is the numeric host:port being dialled.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", ErrRefused, address)
	}
	return g.Check(ap.Addr())
}
