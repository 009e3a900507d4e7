package relay

import (
	"context"
	"encoding/xml"
	"fmt"
	"time"

	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/internal/peer"
)

// Target returns the queue target of RouteUp: peer.Target over the link,
// so a message leaves the client's spool only on the hub's ack.
func (c *Client) Target(retry time.Duration) (queue.Target, error) {
	return peer.NewTarget(peer.TargetConfig{Peers: c, IQ: c.cfg.Link, Retry: retry, Log: c.cfg.Log})
}

// ReceiverParts are what peer.Receiver needs to take transfers from the
// hub instead of from DNS-published peers: the hub is the only sender and
// speaks for every sender domain (it is our MX), its key is the pinned
// one, learnt in hello.
func (c *Client) ReceiverParts() (peer.Records, peer.Trust, *peer.Discovery, error) {
	recs := hubRecords{c: c}
	trust := peer.TrustFunc(func(context.Context, string, peer.Record, []byte) (peer.Verdict, string, error) {
		return peer.Accept, "relay hub (pinned)", nil
	})
	d, err := peer.NewDiscovery(peer.DiscoveryConfig{Records: recs, Trust: trust, IQ: hubKeyIQ{c: c}, Log: c.cfg.Log})
	return recs, trust, d, err
}

// hubRecords says, for every sender domain, that the hub sends its mail.
type hubRecords struct{ c *Client }

func (r hubRecords) Lookup(context.Context, string) (peer.Record, bool, error) {
	return peer.Record{JID: r.c.hub.String(), Fingerprint: r.c.hfp, TTL: time.Hour}, true, nil
}

// hubKeyIQ answers the receiver's key request for the hub from the key
// pinned and learnt in hello, without asking the network; any other JID
// serves no key.
type hubKeyIQ struct{ c *Client }

func (k hubKeyIQ) IQ(_ context.Context, iq stanza.IQ, _ xml.TokenReader) (xml.TokenReader, error) {
	key := k.c.key()
	if !iq.To.Equal(k.c.hub) { // a permanent error: the receiver refuses the transfer
		return nil, xmpp.Classify(string(stanza.ItemNotFound), string(stanza.Cancel), "transfers come from the relay hub only")
	}
	if key == nil {
		return nil, fmt.Errorf("%w: hub key not known yet", peer.ErrTemporary)
	}
	pub, err := serializePublic(key)
	if err != nil {
		return nil, err
	}
	return xmpp.Tokens(peermsg.KeyTokens(k.c.hfp, pub)...), nil
}
