package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/internal/forward"
	"passerelle/internal/peer"
	"passerelle/internal/relay"
	"passerelle/internal/reverse"
)

// relayParts is relay mode, when [relay] mode is set: one of the two.
type relayParts struct {
	hub    *relay.Hub
	client *relay.Client
}

// buildRelayLink is buildComponent for a relay client: the XMPP link is a
// c2s session as relay.jid (outbound only), which says hello to the hub
// each time it comes up.
func (g *gateway) buildRelayLink() error {
	r := g.cfg.Relay
	pw, err := r.Password.Resolve()
	if err != nil {
		return fmt.Errorf("relay.password: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.TLSCA != "" {
		pem, err := os.ReadFile(r.TLSCA)
		if err != nil {
			return fmt.Errorf("relay.tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("relay.tls_ca: no certificate in %s", r.TLSCA)
		}
	}
	g.mux = xmpp.NewMux()
	g.relay = &relayParts{}
	g.component = xmpp.New(xmpp.Config{Addr: r.server(), Log: g.log, AckTimeout: g.cfg.XMPP.AckTimeout.Duration, Mux: g.mux, Metrics: g.metrics,
		Client: &xmpp.ClientLogin{JID: r.JID, Password: pw, TLS: tc, DirectTLS: r.DirectTLS},
		OnUp: func(ctx context.Context) {
			if c := g.relay.client; c != nil {
				c.OnUp(ctx)
			}
		}})
	return nil
}

// buildRelay wires the hub or the client. It runs after buildPeer (the hub
// chains to the peer route) and before buildQueue.
func (g *gateway) buildRelay() error {
	if !g.cfg.relayHub() && !g.cfg.relayClient() {
		return nil
	}
	key, err := g.keys.DomainKey()
	if err != nil {
		return err
	}
	if g.cfg.relayClient() {
		return g.buildRelayClient(key)
	}
	dir := g.cfg.Relay.KeyDir
	if dir == "" {
		dir = filepath.Join(g.cfg.Keys.Dir, "relay-clients")
	}
	up, err := g.uploader()
	if err != nil {
		return err
	}
	hc := relay.HubConfig{Self: g.cfg.XMPP.ComponentDomain, Key: key, KeyDir: dir, OutRoute: reverse.RouteSMTP,
		MaxStanza: g.cfg.XMPP.MaxStanzaBytes, Hostname: g.cfg.Hostname, Log: g.log, HashAddr: g.hash}
	if up != nil { // no typed nil in the interface
		hc.Uploader = up
	}
	if g.peer != nil {
		hc.Next = g.peer.route
	}
	for _, c := range g.cfg.Relay.Client {
		hc.Clients = append(hc.Clients, relay.ClientConfig{JID: c.JID, Domains: c.Domains, Fingerprint: c.Fingerprint,
			MaxRecipientsPerHour: c.MaxRecipientsPerHour})
	}
	hub, err := relay.NewHub(hc)
	if err != nil {
		return err
	}
	g.relay = &relayParts{hub: hub}
	g.log.Info("relay hub", zap.Int("clients", len(hc.Clients)))
	return nil
}

func (g *gateway) buildRelayClient(key *openpgp.Entity) error {
	r := g.cfg.Relay
	signer, err := g.liveDKIM()
	if err != nil {
		return err
	}
	cc := relay.ClientSideConfig{Self: r.JID, Hub: r.Hub, HubFingerprint: r.HubFingerprint,
		HubKeyFile: filepath.Join(g.cfg.Keys.Dir, "relay-hub.pgp"), Key: key, Link: g.component, Bound: g.component.LocalAddr, Policy: g.policy,
		Domains: g.cfg.LocalDomains, MaxStanza: r.MaxStanzaBytes, Log: g.log, HashAddr: g.hash}
	cc.DKIM = signer // the reverse path's: SIGHUP swaps the keys of both
	if up, err := g.uploader(); err != nil {
		return err
	} else if up != nil {
		cc.Uploader = up // the hub server's upload service, as our account
	}
	c, err := relay.NewClient(cc)
	if err != nil {
		return err
	}
	g.relay.client = c
	g.log.Info("relay client", zap.String("jid", r.JID), zap.String("hub", r.Hub), zap.String("server", r.server()))
	return nil
}

// relayTargets adds the queue target of relay mode.
func (g *gateway) relayTargets(targets map[string]queue.Target) error {
	retry := g.cfg.Relay.Retry.Duration
	switch {
	case g.relay == nil:
	case g.relay.hub != nil:
		t, err := g.relay.hub.HubTargets(g.component, retry)
		if err != nil {
			return err
		}
		targets[relay.RouteHub] = t
	case g.relay.client != nil:
		t, err := g.relay.client.Target(retry)
		if err != nil {
			return err
		}
		targets[relay.RouteUp] = t
	}
	return nil
}

// relayBounce routes DSNs in relay mode: at the hub, those for a client's
// senders go back down the relay link; at the client, every DSN goes to
// the site's MTA (the smarthost), which knows its users.
func (g *gateway) relayBounce(addr string) (string, map[string]string, bool, bool) {
	switch {
	case g.relay == nil:
		return "", nil, false, false
	case g.relay.client != nil:
		return reverse.RouteSMTP, nil, true, true
	}
	if owner, ok := g.relay.hub.Owner(addr); ok {
		return relay.RouteHub, map[string]string{peer.ParamJID: owner}, true, true
	}
	return "", nil, false, false
}

// relayForward is the forward path's hook for non-local recipients in
// relay mode (the hub chains to the peer route); ok false outside it.
func (g *gateway) relayForward() (forward.PeerRoute, bool) {
	switch {
	case g.relay == nil:
		return nil, false
	case g.relay.hub != nil:
		return g.relay.hub, true
	}
	return g.relay.client, true
}

// relayReceivers installs the transfer handlers of relay mode; prc is the
// peer route's receiver, if any. It reports false outside relay mode.
func (g *gateway) relayReceivers(fwd *forward.Forward, prc *peer.Receiver) (bool, error) {
	if g.relay == nil {
		return false, nil
	}
	dir := g.cfg.Relay.DedupDir
	if dir == "" {
		dir = filepath.Join(g.cfg.Spool.Dir, "relay-dedup")
	}
	dd, err := peer.OpenDedup(dir, 0, time.Now())
	if err != nil {
		return true, err
	}
	dl, err := g.fetcher() // mail sent over upload, either way
	if err != nil {
		return true, err
	}
	if h := g.relay.hub; h != nil {
		rc := relay.HubReceiverConfig{Spool: g.queue, Dedup: dd,
			Limits: peermsg.Limits{MaxMailBytes: g.cfg.SMTP.MaxMessageBytes}}
		rc.Download = downloader(dl)
		if prc != nil {
			rc.Fallback = prc.Handle
		}
		return true, h.Register(g.mux, rc)
	}
	c := g.relay.client
	key, err := g.keys.DomainKey()
	if err != nil {
		return true, err
	}
	recs, trust, disc, err := c.ReceiverParts()
	if err != nil {
		return true, err
	}
	rcv, err := peer.NewReceiver(peer.ReceiverConfig{Self: g.cfg.Relay.JID, Key: key, Records: recs, Trust: trust,
		Keys: disc, Policy: g.policy, Local: fwd, Dedup: dd, Download: downloader(dl), Hostname: g.cfg.Hostname, Log: g.log, HashAddr: g.hash})
	if err != nil {
		return true, err
	}
	g.mux.HandleIQAsync(stanza.SetIQ, peermsg.MailName(), c.SignAcks(rcv.Handle))
	return true, nil
}

// downloader is dl as a peer.Downloader, nil when dl is (no typed nil in
// the interface).
func downloader(dl reverse.Fetcher) peer.Downloader {
	if dl == nil {
		return nil
	}
	return dl
}
