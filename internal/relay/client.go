package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/relaymsg"
	"passerelle/bridge/xmpp"
	"passerelle/internal/peer"
	"passerelle/policy"
)

// DKIM signs the client's outbound mail (gateway/dkim.Signer): the hub
// never holds the key.
type DKIM interface {
	Signs(domain string) bool
	Header(domain string, r io.Reader) (string, error)
}

// ClientSideConfig configures a Client.
type ClientSideConfig struct {
	Self           string          // our account's bare JID on the hub's server
	Hub            string          // the hub component's JID
	HubFingerprint string          // the hub's domain key, pinned (hex)
	HubKeyFile     string          // where the hub's public key is kept
	Key            *openpgp.Entity // our gateway key, with its secret
	Link           peer.IQer       // the c2s link (bridge/xmpp in client mode)
	Bound          func() jid.JID  // the link's bound full JID (bridge/xmpp Component.LocalAddr)
	Policy         *policy.Policy
	DKIM           DKIM // nil: mail goes up unsigned
	Domains        []string
	// MaxStanza is the largest stanza the hub's server takes from a
	// client (Prosody: 256 KiB on c2s).
	MaxStanza int
	// Uploader takes mail too large for MaxStanza (XEP-0363 on the hub's
	// server, as this account; the hub downloads it); nil refuses such
	// mail with 552.
	Uploader peer.Uploader
	// HelloEvery repeats the hello while the link is up, so a hub that
	// forgot our session (it restarted with a stale one, or an impostor's
	// unsigned ack made it drop it) learns it again; 0: 5 minutes.
	HelloEvery time.Duration
	Log        *zap.Logger
	HashAddr   func(string) string
	Now        func() time.Time
}

// Client is the small site's side of relay mode.
type Client struct {
	cfg  ClientSideConfig
	log  *zap.Logger
	self jid.JID
	hub  jid.JID
	hfp  string
	pub  []byte
	file keyFile

	mu      sync.Mutex
	hubKey  *openpgp.Entity
	session context.Context // the link on which hello succeeded; nil: none
}

// NewClient returns a Client and loads the hub's stored key.
func NewClient(cfg ClientSideConfig) (*Client, error) {
	if cfg.Key == nil || cfg.Key.PrivateKey == nil || cfg.Link == nil || cfg.Bound == nil || cfg.Policy == nil || cfg.HubKeyFile == "" || len(cfg.Domains) == 0 {
		return nil, errors.New("relay: client needs Key (secret), Link, Bound, Policy, HubKeyFile and Domains")
	}
	self, err := jid.Parse(cfg.Self)
	if err != nil || self.Localpart() == "" {
		return nil, fmt.Errorf("relay: client JID %q: want user@server", cfg.Self)
	}
	hub, err := jid.Parse(cfg.Hub)
	if err != nil || hub.Localpart() != "" || hub.Resourcepart() != "" {
		return nil, fmt.Errorf("relay: hub %q: want the hub component's JID", cfg.Hub)
	}
	hfp, err := NormalizeFingerprint(cfg.HubFingerprint)
	if err != nil {
		return nil, err
	}
	if cfg.MaxStanza <= 0 {
		cfg.MaxStanza = 256 << 10
	}
	if cfg.HelloEvery <= 0 {
		cfg.HelloEvery = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.HashAddr == nil {
		cfg.HashAddr = func(s string) string { return s }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pub, err := serializePublic(cfg.Key)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.Log.Named("relay"), self: self.Bare(), hub: hub, hfp: hfp, pub: pub,
		file: newKeyFile(cfg.HubKeyFile)}
	if c.hubKey, err = c.file.load(hfp); err != nil {
		return nil, err
	}
	return c, nil
}

// Hub is the hub component's JID.
func (c *Client) Hub() jid.JID { return c.hub }

// OnUp is the link's bridge/xmpp OnUp hook: it says hello on the new
// session, retrying with backoff until the hub answers, so that the hub
// learns where to push mail, and again every HelloEvery while the session
// lasts.
func (c *Client) OnUp(ctx context.Context) {
	delay := time.Second
	for ctx.Err() == nil {
		wait := c.cfg.HelloEvery
		if err := c.hello(ctx); err != nil {
			c.log.Warn("hello to the hub failed", zap.Stringer("hub", c.hub), zap.Error(err), zap.Duration("retry_in", delay))
			wait, delay = delay, min(2*delay, time.Minute)
		} else {
			delay = time.Second
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (c *Client) hello(ctx context.Context) error {
	session := c.cfg.Bound()
	if session.Resourcepart() == "" {
		return errors.New("relay: hello: link not bound")
	}
	now := c.cfg.Now().Truncate(time.Second)
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, []*openpgp.Entity{c.cfg.Key},
		bytes.NewReader(relaymsg.HelloSignedText(c.hub.String(), session.String(), now)), nil); err != nil {
		return fmt.Errorf("relay: sign hello: %w", err)
	}
	req := relaymsg.Hello{Key: c.pub, Time: now, Sig: sig.Bytes()}
	r, err := c.cfg.Link.IQ(ctx, stanza.IQ{To: c.hub, Type: stanza.SetIQ}, xmpp.Tokens(req.Tokens(fingerprint(c.cfg.Key))...))
	if err != nil {
		return fmt.Errorf("relay: hello: %w", err)
	}
	answer, err := relaymsg.ParseHello(r)
	if err != nil {
		return fmt.Errorf("relay: hello answer: %w", err)
	}
	key, err := ParsePublicKey(answer.Key, c.hfp)
	if err != nil {
		c.log.Error("the hub's key does not match relay.hub_fingerprint: nothing is sent to it", zap.Error(err))
		return err
	}
	c.mu.Lock()
	stored := c.hubKey != nil
	c.mu.Unlock()
	if !stored {
		if err := c.file.save(key); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !stored || c.session != ctx {
		c.log.Info("connected to the relay hub", zap.Stringer("hub", c.hub))
	}
	c.hubKey, c.session = key, ctx
	return nil
}

func (c *Client) key() *openpgp.Entity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hubKey
}

// Connected reports whether the hub has acknowledged our hello on the
// current link.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session != nil && c.session.Err() == nil
}

// Resolve implements peer.Resolver for the target of RouteUp: the hub,
// with its pinned key, while the link is up and hello was answered.
func (c *Client) Resolve(_ context.Context, _ string) (*peer.Peer, error) {
	key := c.key()
	if key == nil || !c.Connected() {
		return nil, fmt.Errorf("%w: not connected to the relay hub %s", peer.ErrTemporary, c.hub)
	}
	return &peer.Peer{Domain: c.hub.String(), JID: c.hub, Key: key, Fingerprint: c.hfp, Reason: "relay hub (pinned)"}, nil
}
