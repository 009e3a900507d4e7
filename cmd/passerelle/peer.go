package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"passerelle/bridge/peertrust"
	"passerelle/gateway/queue"
	"passerelle/internal/forward"
	"passerelle/internal/peer"
	"passerelle/internal/reverse"
)

// peerParts is the peer route, when [peers] enables it.
type peerParts struct {
	discovery *peer.Discovery
	route     *peer.Route
	target    *peer.Target
	publisher *peer.Publisher
	records   peer.Records
	trust     peer.Trust
}

// buildPeer wires discovery, the sending route and its target, and the
// publication of our key. It runs after openKeys and buildComponent and
// before the pep responder (which carries our disco#info form), buildQueue
// and buildSMTP. Without [peers] resolver it does nothing.
func (g *gateway) buildPeer() error {
	if !g.cfg.peerRouteOn() {
		return nil
	}
	key, err := g.keys.DomainKey()
	if err != nil {
		return err
	}
	rr, err := g.cfg.peerResolver()
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	checker, _, err := g.cfg.peerTrust(g.log)
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	p := &peerParts{records: peer.DNSRecords{Resolver: rr, Log: g.log.Named("peer")}, trust: trustOf(checker)}
	if p.discovery, err = peer.NewDiscovery(peer.DiscoveryConfig{Records: p.records, Trust: p.trust,
		IQ: g.component, Log: g.log}); err != nil {
		return err
	}
	uploader, err := g.uploader()
	if err != nil {
		return err
	}
	var up peer.Uploader
	if uploader != nil {
		up = uploader
	}
	if p.route, err = peer.NewRoute(peer.RouteConfig{Peers: p.discovery, Policy: g.policy,
		Self: g.cfg.XMPP.ComponentDomain, Key: key, Domains: g.cfg.LocalDomains, Uploader: up,
		MaxStanza: g.cfg.XMPP.MaxStanzaBytes, Log: g.log, HashAddr: g.hash}); err != nil {
		return err
	}
	if p.target, err = peer.NewTarget(peer.TargetConfig{Peers: p.discovery, IQ: g.component,
		Retry: g.cfg.Peers.Retry.Duration, Log: g.log}); err != nil {
		return err
	}
	if p.publisher, err = peer.NewPublisher(key, g.cfg.LocalDomains); err != nil {
		return err
	}
	p.publisher.Register(g.mux)
	g.peer = p
	return nil
}

// trustOf adapts the pin store's checker (bridge/peertrust) to the route.
func trustOf(c *peertrust.Checker) peer.Trust {
	return peer.TrustFunc(func(ctx context.Context, domain string, rec peer.Record, served []byte) (peer.Verdict, string, error) {
		d, err := c.Check(ctx, domain, rec.Published, rec.Authenticated, served)
		if err != nil {
			return peer.Hold, "", err
		}
		switch d.Verdict {
		case peertrust.Accept:
			return peer.Accept, string(d.Mode) + ": " + d.Reason, nil
		case peertrust.Hold:
			return peer.Hold, d.Reason, nil
		}
		return peer.Refuse, d.Reason, nil
	})
}

// peerRouteOn: the peer route serves when [peers] names a resolver or a
// peer domain, or a policy rule routes mail to "peer".
func (c *Config) peerRouteOn() bool {
	if c.Peers.Resolver != "" || len(c.Peers.Domain) > 0 || c.Policy.Route == "peer" {
		return true
	}
	for _, r := range c.Policy.Domains {
		if r.Route == "peer" {
			return true
		}
	}
	for _, r := range c.Policy.Addresses {
		if r.Route == "peer" {
			return true
		}
	}
	return false
}

// peerTargets adds the queue target of the peer route.
func (g *gateway) peerTargets(targets map[string]queue.Target) {
	if g.peer != nil {
		targets[peer.RouteName] = g.peer.target
	}
}

// forwardPeer is the forward path's peer hook (nil-safe).
func (g *gateway) forwardPeer() forward.PeerRoute {
	if g.peer == nil {
		return nil
	}
	return g.peer.route
}

// buildPeerReceiver installs the handler of transfers from other sites,
// which hands them to the forward path. It runs after buildSMTP.
func (g *gateway) buildPeerReceiver(fwd *forward.Forward) error {
	if g.peer == nil {
		return nil
	}
	key, err := g.keys.DomainKey()
	if err != nil {
		return err
	}
	dir := g.cfg.Peers.DedupDir
	if dir == "" {
		dir = filepath.Join(g.cfg.Spool.Dir, "peer-dedup")
	}
	dd, err := peer.OpenDedup(dir, 0, time.Now())
	if err != nil {
		return err
	}
	fetcher, err := g.fetcher()
	if err != nil {
		return err
	}
	var dl peer.Downloader
	if fetcher != nil {
		dl = fetcher
	}
	rc, err := peer.NewReceiver(peer.ReceiverConfig{Self: g.cfg.XMPP.ComponentDomain, Key: key,
		Records: g.peer.records, Trust: g.peer.trust, Keys: g.peer.discovery, Policy: g.policy, Local: fwd,
		Dedup: dd, Download: dl, Hostname: g.cfg.Hostname, Log: g.log, HashAddr: g.hash})
	if err != nil {
		return err
	}
	rc.Register(g.mux)
	g.log.Info("peer route enabled", zap.String("resolver", g.cfg.Peers.Resolver),
		zap.String("fingerprint", peer.Fingerprint(key)))
	return nil
}

// localMTARoute sends local addresses whose policy route is "smtp" (users
// still on email) to the smarthost, the site's own MTA; without one there
// is no way to reach them that would not loop back here.
func (g *gateway) localMTARoute() string {
	if g.cfg.Delivery.Smarthost.Addr == "" {
		return ""
	}
	return reverse.RouteSMTP
}
