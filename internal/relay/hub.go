package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/addrhash"
	"passerelle/internal/peer"
)

// ClientConfig is one relay client the hub serves ([[relay.client]]).
type ClientConfig struct {
	JID         string   // bare JID of its account on the hub's XMPP server
	Domains     []string // the mail domains it holds
	Fingerprint string   // its gateway key, pinned (hex)
	// MaxRecipientsPerHour bounds the outbound recipients the hub takes
	// from the client in any hour (a compromised site cannot spam through
	// the hub at will); past it a transfer is refused with a wait error and
	// the client retries later. 0: DefaultMaxRecipientsPerHour.
	MaxRecipientsPerHour int
}

// DefaultMaxRecipientsPerHour is a small site's outbound allowance.
const DefaultMaxRecipientsPerHour = 1000

// PeerRoute is the forward path's hook for recipients outside the local
// domains (internal/forward.PeerRoute); the hub chains to the peer route.
type PeerRoute interface {
	Rcpt(ctx context.Context, s *smtpd.Info, from, to string) (any, error)
	Seal(ctx context.Context, env *smtpd.Envelope, raw, inner []byte, rcpts []smtpd.Recipient) ([]queue.Recipient, [][]byte, error)
}

// Spooler stores a message durably (queue.Queue).
type Spooler interface {
	Put(ctx context.Context, env *queue.Envelope, bodies ...io.Reader) error
}

// HubConfig configures a Hub.
type HubConfig struct {
	Self    string          // the hub component's JID
	Key     *openpgp.Entity // the hub's domain key, with its secret
	Clients []ClientConfig
	KeyDir  string // where the clients' public keys are kept (one file each)
	// Next takes recipients outside the clients' domains (the peer route);
	// nil: relaying denied.
	Next PeerRoute
	// OutRoute is the queue route of the clients' outbound mail (MX
	// delivery, gateway/delivery: "smtp").
	OutRoute  string
	MaxStanza int // largest transfer the hub sends a client; default 512 KiB
	// Uploader takes mail too large for MaxStanza (XEP-0363 on the hub's
	// server; the client downloads it); nil refuses such mail with 552.
	Uploader peer.Uploader
	Hostname string
	Log      *zap.Logger
	HashAddr func(string) string
	Now      func() time.Time
}

// Hub is the hub side of relay mode.
type Hub struct {
	cfg      HubConfig
	log      *zap.Logger
	self     jid.JID
	pub      []byte
	fpr      string
	byJID    map[string]*client
	byDomain map[string]*client
}

// client is one configured relay client and what the hub learnt of it.
type client struct {
	ClientConfig
	file keyFile
	// session keeps the last session that said hello, so a restarted hub
	// tries it at once (the client's c2s session outlives a hub restart,
	// and the client says hello only when its own link comes up).
	session keyFile

	mu   sync.Mutex
	key  *openpgp.Entity // from hello, or the key file
	full jid.JID         // the session that said hello last; zero: not connected
	sent []sentAt        // outbound recipients taken in the last hour
}

type sentAt struct {
	at time.Time
	n  int
}

// take counts n outbound recipients at now against the hourly limit and
// reports whether they fit.
func (c *client) take(now time.Time, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep, total := c.sent[:0], 0
	for _, s := range c.sent {
		if now.Sub(s.at) < time.Hour {
			keep, total = append(keep, s), total+s.n
		}
	}
	c.sent = keep
	if total+n > c.MaxRecipientsPerHour {
		return false
	}
	c.sent = append(c.sent, sentAt{at: now, n: n})
	return true
}

func (c *client) state() (*openpgp.Entity, jid.JID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key, c.full
}

func (c *client) holds(domain string) bool {
	for _, d := range c.Domains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// NewHub returns a Hub and loads the clients' stored keys.
func NewHub(cfg HubConfig) (*Hub, error) {
	if cfg.Key == nil || cfg.Key.PrivateKey == nil || cfg.Self == "" || cfg.KeyDir == "" || cfg.OutRoute == "" {
		return nil, errors.New("relay: hub needs Self, Key (secret), KeyDir and OutRoute")
	}
	if cfg.MaxStanza <= 0 {
		cfg.MaxStanza = 512 << 10
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.HashAddr == nil {
		cfg.HashAddr = addrhash.Random()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	self, err := jid.Parse(cfg.Self)
	if err != nil {
		return nil, fmt.Errorf("relay: hub JID: %w", err)
	}
	pub, err := serializePublic(cfg.Key)
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, log: cfg.Log.Named("relay"), self: self, pub: pub, fpr: fingerprint(cfg.Key),
		byJID: map[string]*client{}, byDomain: map[string]*client{}}
	for _, cc := range cfg.Clients {
		if err := h.addClient(cc); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *Hub) addClient(cc ClientConfig) error {
	j, err := jid.Parse(cc.JID)
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return fmt.Errorf("relay: client JID %q: want a bare user@server JID", cc.JID)
	}
	fp, err := NormalizeFingerprint(cc.Fingerprint)
	if err != nil {
		return err
	}
	cc.JID, cc.Fingerprint = j.String(), fp
	if cc.MaxRecipientsPerHour <= 0 {
		cc.MaxRecipientsPerHour = DefaultMaxRecipientsPerHour
	}
	base := filepath.Join(h.cfg.KeyDir, dedupKey("key", cc.JID))
	c := &client{ClientConfig: cc, file: newKeyFile(base + ".pgp"), session: newKeyFile(base + ".session")}
	if c.key, err = c.file.load(fp); err != nil {
		return err
	}
	if c.key != nil {
		c.full = c.session.loadJID(j)
	}
	if _, dup := h.byJID[cc.JID]; dup {
		return fmt.Errorf("relay: client %s configured twice", cc.JID)
	}
	h.byJID[cc.JID] = c
	for _, d := range cc.Domains {
		d = strings.ToLower(d)
		if _, dup := h.byDomain[d]; dup {
			return fmt.Errorf("relay: domain %s held by two clients", d)
		}
		h.byDomain[d] = c
	}
	return nil
}

// Owner returns the bare JID of the client that holds addr's domain.
func (h *Hub) Owner(addr string) (string, bool) {
	if !strings.Contains(addr, "@") {
		return "", false
	}
	c, ok := h.byDomain[domainOf(addr)]
	if !ok {
		return "", false
	}
	return c.JID, true
}

// Waiting describes, for `passerelle queue list`, what a hub recipient
// waits for.
func (h *Hub) Waiting(clientJID string) string {
	c := h.byJID[clientJID]
	if c == nil {
		return "unknown relay client " + clientJID
	}
	if _, full := c.state(); full.String() == "" {
		return "relay client " + clientJID + " (not connected)"
	}
	return "relay client " + clientJID
}

// Resolve implements peer.Resolver for peer.Target: the client's current
// session and pinned key. A client that is not connected is a temporary
// failure (the queue retries after RetryAfter).
func (h *Hub) Resolve(_ context.Context, clientJID string) (*peer.Peer, error) {
	c := h.byJID[clientJID]
	if c == nil {
		return nil, fmt.Errorf("%w: %s is no longer a relay client of this hub", peer.ErrRefused, clientJID)
	}
	key, full := c.state()
	if key == nil || full.String() == "" {
		return nil, fmt.Errorf("%w: relay client %s is not connected", peer.ErrTemporary, clientJID)
	}
	return &peer.Peer{Domain: clientJID, JID: full, Key: key, Fingerprint: c.Fingerprint, Reason: "relay client"}, nil
}

// gone forgets the session full if it is still the client's current one.
func (h *Hub) gone(full jid.JID) {
	c := h.byJID[full.Bare().String()]
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.full.Equal(full) {
		c.full = jid.JID{}
		h.log.Info("relay client went away", zap.Stringer("client", full))
	}
	c.mu.Unlock()
}
