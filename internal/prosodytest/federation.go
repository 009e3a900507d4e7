package prosodytest

import (
	"fmt"
	"testing"

	"passerelle/internal/dnstest"
)

// StartFederation starts one Prosody per opts, federating over s2s on
// loopback: server i binds 127.0.0.(2+i) (unless opts[i].Interface is set),
// has s2s with dialback on a free port (or opts[i].S2SPort), resolves its
// peers through d only, and its records are published in d (PublishDNS)
// before it starts. Each opts[i].Domain must be set and distinct.
//
// Free s2s ports, not 5269: the SRV records carry the port, and a fixed
// port would make two test binaries running at once (go test runs packages
// in parallel) collide on 127.0.0.2:5269.
func StartFederation(t testing.TB, d *dnstest.Server, opts ...Options) []*Server {
	t.Helper()
	seen := map[string]bool{}
	servers := make([]*Server, 0, len(opts))
	for i, o := range opts {
		if o.Domain == "" || seen[o.Domain] {
			t.Fatalf("prosodytest: federation server %d: Domain %q empty or repeated", i, o.Domain)
		}
		seen[o.Domain] = true
		o.S2S = true
		o.DNS = d.Addr
		if o.Interface == "" {
			o.Interface = fmt.Sprintf("127.0.0.%d", 2+i)
		}
		s := startServer(t, o, func(s *Server) { s.PublishDNS(d) })
		servers = append(servers, s)
	}
	return servers
}

// PublishDNS registers in d what a peer needs to open s2s to s and to
// verify s's dialback keys, for s.Domain and s.Component (a component sends
// to remote domains with from=its own name, so the receiving server
// dialbacks that name): `_xmpp-server._tcp.NAME` SRV -> s.Domain:s2s port
// (RFC 6120 §3.2.1) and NAME A -> s.Interface.
func (s *Server) PublishDNS(d *dnstest.Server) {
	if s.S2SAddr == "" {
		s.t.Fatalf("prosodytest: PublishDNS: %s has no s2s (Options.S2S)", s.Domain)
	}
	for _, name := range s.FederatedNames() {
		d.SetSRV("_xmpp-server._tcp."+name, s.Domain, uint16(port(s.S2SAddr)))
		d.SetA(name, s.Interface)
	}
}

// FederatedNames are the names s answers for over s2s: its VirtualHost and
// its components.
func (s *Server) FederatedNames() []string {
	names := []string{s.Domain, s.Component}
	if s.UploadComponent != "" {
		names = append(names, s.UploadComponent)
	}
	return names
}
