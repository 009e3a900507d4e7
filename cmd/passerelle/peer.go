package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"passerelle/bridge/peerrec"
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
	checker   atomic.Pointer[peertrust.Checker] // swapped by a reload
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
	p := &peerParts{records: peer.DNSRecords{Resolver: rr, Log: g.log.Named("peer")}}
	p.checker.Store(checker)
	p.trust = trustOf(&p.checker)
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
		Self: g.cfg.XMPP.ComponentDomain, Key: key, Domains: g.cfg.LocalDomains, Uploader: up, RcptKeys: g.resolver,
		MaxStanza: g.cfg.XMPP.MaxStanzaBytes, Fallback: g.peerFallback(),
		Plaintext: func() { g.metrics.Plaintext("peer_fallback") }, Log: g.log, HashAddr: g.hash}); err != nil {
		return err
	}
	if p.target, err = peer.NewTarget(peer.TargetConfig{Peers: p.discovery, IQ: g.component, Sealer: p.route,
		Retry: g.cfg.Peers.Retry.Duration, MaxPerPeer: g.cfg.Peers.MaxConcurrent, Log: g.log}); err != nil {
		return err
	}
	if p.publisher, err = peer.NewPublisher(key, g.cfg.LocalDomains); err != nil {
		return err
	}
	p.publisher.Register(g.mux)
	g.peer = p
	return nil
}

// peerFallback is the queue route of peers.smtp_fallback: MX delivery
// (or the smarthost), as any mail to a domain on email.
func (g *gateway) peerFallback() string {
	if !g.cfg.Peers.SMTPFallback {
		return ""
	}
	return reverse.RouteSMTP
}

// trustOf adapts the pin store's checker (bridge/peertrust) to the route.
// The checker is read at each decision, so a reload's trust settings
// apply from the next one.
func trustOf(c *atomic.Pointer[peertrust.Checker]) peer.Trust {
	return peer.TrustFunc(func(ctx context.Context, domain string, rec peer.Record, served []byte) (peer.Verdict, string, error) {
		d, err := c.Load().Check(ctx, domain, rec.Published, rec.Authenticated, served)
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

// peerBounce routes a DSN for addr over the peer route when addr's domain
// publishes a gateway record (sealed at delivery).
func (g *gateway) peerBounce(addr string) (string, map[string]string, bool) {
	if g.peer == nil || !strings.Contains(addr, "@") {
		return "", nil, false
	}
	dom := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Peers.LookupTimeout.Duration)
	defer cancel()
	if !g.peer.discovery.Publishes(ctx, dom) {
		return "", nil, false
	}
	return peer.RouteName, map[string]string{peer.ParamDomain: dom}, true
}

// peerTargets adds the queue target of the peer route.
func (g *gateway) peerTargets(targets map[string]queue.Target) {
	if g.peer != nil {
		targets[peer.RouteName] = g.peer.target
	}
}

// forwardPeer is the forward path's peer hook (nil-safe).
func (g *gateway) forwardPeer() forward.PeerRoute {
	if r, ok := g.relayForward(); ok {
		return r
	}
	if g.peer == nil {
		return nil
	}
	return g.peer.route
}

// buildPeerReceiver makes the handler of transfers from other sites,
// which hands them to the forward path; buildSMTP registers it (relay
// mode's hub shares its element). It runs after buildSMTP.
func (g *gateway) buildPeerReceiver(fwd *forward.Forward) (*peer.Receiver, error) {
	if g.peer == nil {
		return nil, nil
	}
	key, err := g.keys.DomainKey()
	if err != nil {
		return nil, err
	}
	dir := g.cfg.Peers.DedupDir
	if dir == "" {
		dir = filepath.Join(g.cfg.Spool.Dir, "peer-dedup")
	}
	dd, err := peer.OpenDedup(dir, 0, time.Now())
	if err != nil {
		return nil, err
	}
	if err := g.seedPeerDedup(dd); err != nil {
		return nil, err
	}
	fetcher, err := g.fetcher()
	if err != nil {
		return nil, err
	}
	dl := downloader(fetcher)
	rc, err := peer.NewReceiver(peer.ReceiverConfig{Self: g.cfg.XMPP.ComponentDomain, Key: key,
		Records: g.peer.records, Trust: g.peer.trust, Keys: g.peer.discovery, Policy: g.policy, Local: fwd,
		Spool: g.queue, ComponentDomain: g.cfg.XMPP.ComponentDomain,
		Dedup: dd, Download: dl, Hostname: g.cfg.Hostname, Log: g.log, HashAddr: g.hash,
		RatePerMinute: rateOrOff(g.cfg.Peers.RatePerMinute), Burst: g.cfg.Peers.Burst})
	if err != nil {
		return nil, err
	}
	g.log.Info("peer route enabled", zap.String("resolver", g.cfg.Peers.Resolver),
		zap.String("fingerprint", peer.Fingerprint(key)))
	return rc, nil
}

// seedPeerDedup closes the window between the spool's fsync of a received
// transfer and its duplicate entry: the transfers the spool holds count as
// stored.
func (g *gateway) seedPeerDedup(dd *peer.Dedup) error {
	envs, err := g.store.Load(context.Background())
	if err != nil {
		return fmt.Errorf("peers: read the spool for duplicate suppression: %w", err)
	}
	tags := map[string][]string{}
	for _, e := range envs {
		for _, r := range e.Recipients {
			if t := r.Params[peer.ParamTransfer]; t != "" {
				tags[t] = append(tags[t], r.Addr)
			}
		}
	}
	n, err := dd.Seed(tags)
	if err != nil {
		return fmt.Errorf("peers: seed duplicate suppression: %w", err)
	}
	if n > 0 {
		g.log.Warn("transfers stored before a crash without their duplicate entry; recorded from the spool", zap.Int("transfers", n))
	}
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

// explainPeer prints the peer route's decision for a non-local address:
// the record, the trust mode and pin, and what RCPT would answer. It reads
// the pin store without changing it (no first-use pin), and cannot check
// the key the peer's component serves (that needs the XMPP link): the
// gateway checks it at RCPT.
func explainPeer(ctx context.Context, c *Config, addr string, w io.Writer) error {
	if !c.peerRouteOn() {
		fmt.Fprintf(w, "peer:              off ([peers] names no resolver or domain and no rule routes to peer)\n")
		return nil
	}
	dom := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	rr, err := c.peerResolver()
	if err != nil {
		return err
	}
	checker, store, err := c.peerTrust(zap.NewNop())
	if err != nil {
		return err
	}
	mode := checker.ModeFor(dom)
	res, err := rr.Lookup(ctx, dom)
	switch {
	case err != nil && errors.Is(err, peerrec.ErrTemporary):
		fmt.Fprintf(w, "peer:              unknown: record lookup failed (%v): RCPT would answer 451 4.4.3\n", err)
		return nil
	case err != nil:
		fmt.Fprintf(w, "peer:              no: the record of %s is malformed (%v): no peer route\n", dom, err)
		return nil
	case !res.Found:
		fmt.Fprintf(w, "peer:              no: %s publishes no %s record: no peer route (550 5.3.5; 550 5.4.4 if routed to peer explicitly)\n", dom, peerrec.Name(dom))
		return nil
	}
	r := res.Record
	fmt.Fprintf(w, "peer record:       jid=%s fp=%s policy=%s ttl=%v dnssec=%v\n", r.JID, r.FingerprintHex(), r.Policy, r.TTL, res.Authenticated)
	pin, pinned, err := store.Get(dom)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "peer trust:        %s\n", mode)
	fmt.Fprintf(w, "peer:              %s\n", peerVerdict(mode, r, res.Authenticated, pin, pinned, c.Peers, dom))
	fmt.Fprintf(w, "gateway unusable:  %s\n", peerUnusable(r.Policy, c.Peers.SMTPFallback))
	return nil
}

// peerUnusable says what RCPT does when the peer's gateway is down, held
// or fails verification.
func peerUnusable(p peerrec.Policy, fallback bool) string {
	switch {
	case p == peerrec.Mixed && fallback:
		return "SMTP: the record says policy=mixed and peers.smtp_fallback is on"
	case p == peerrec.Mixed:
		return "451/550 as above (policy=mixed would allow SMTP: peers.smtp_fallback is off)"
	}
	return "451/550 as above, never SMTP (policy=strict)"
}

// peerVerdict says what the trust store would decide for the record,
// assuming the served key matches it.
func peerVerdict(mode peertrust.Mode, r peerrec.Record, ad bool, pin peertrust.Pin, pinned bool, pc PeersConfig, dom string) string {
	fp := r.FingerprintHex()
	switch mode {
	case peertrust.Pinned:
		doms, _ := pc.trustDomains()
		if want := fmt.Sprintf("%x", doms[dom].Fingerprint); !strings.EqualFold(want, fp) {
			return "refused (550 5.7.1): the record's key " + fp + " is not the pinned " + want
		}
		return "yes: the record matches the key pinned in the configuration"
	case peertrust.DNSSEC:
		if !ad {
			return "refused (550 5.7.1): trust = dnssec and the answer is not DNSSEC-validated (no AD bit)"
		}
		return "yes: the record is DNSSEC-validated"
	}
	switch {
	case !pinned:
		return "yes: first contact pins this key (trust on first use)"
	case pin.Pending != nil:
		return fmt.Sprintf("held (451 4.7.0): %s; pending key %s; `passerelle peers accept` takes it", pin.Pending.Reason, pin.Pending.Fingerprint)
	case strings.EqualFold(pin.Fingerprint, fp):
		return fmt.Sprintf("yes: the record matches the key pinned on %s (%s)", pin.FirstSeen.Format(time.DateOnly), pin.Source)
	case time.Now().Before(pin.Expires):
		return fmt.Sprintf("held (451 4.7.0): the key changed from the pinned %s before %s", pin.Fingerprint, pin.Expires.Format(time.RFC3339))
	}
	return "yes: the key changed after the pinned record's lifetime ended: re-pinned at the next contact"
}

// rateOrOff maps peers.rate_per_minute = 0 (no limit) to the receiver's -1.
func rateOrOff(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
