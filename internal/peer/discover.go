package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
)

// Peer is a verified peer gateway for one mail domain.
type Peer struct {
	Domain      string
	JID         jid.JID // its component
	Key         *openpgp.Entity
	Fingerprint string
	Strict      bool
	Reason      string // why it was accepted (trust mode), for policy explain
}

// DiscoveryConfig configures a Discovery.
type DiscoveryConfig struct {
	Records Records
	Trust   Trust
	IQ      IQer
	KeyTTL  time.Duration // how long a served key is cached; 0: 5 minutes
	Log     *zap.Logger
	Now     func() time.Time
}

// Discovery finds and verifies peer gateways: the record, the key the
// gateway's component serves (which must match the record's fingerprint),
// and the trust store's decision.
type Discovery struct {
	cfg DiscoveryConfig
	log *zap.Logger

	mu   sync.Mutex
	keys map[string]servedKey // by component JID
}

type servedKey struct {
	key     *openpgp.Entity
	expires time.Time
}

// NewDiscovery returns a Discovery.
func NewDiscovery(cfg DiscoveryConfig) (*Discovery, error) {
	if cfg.Records == nil || cfg.Trust == nil || cfg.IQ == nil {
		return nil, errors.New("peer: discovery needs Records, Trust and IQ")
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Discovery{cfg: cfg, log: cfg.Log.Named("peer"), keys: map[string]servedKey{}}, nil
}

// Resolve returns the verified peer gateway of domain. Errors wrap
// ErrNoPeer, ErrTemporary, ErrHeld or ErrRefused; once the record is found
// and says policy=mixed, also ErrSMTPAllowed.
func (d *Discovery) Resolve(ctx context.Context, domain string) (*Peer, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	rec, found, err := d.cfg.Records.Lookup(ctx, domain)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: record of %s: %w", ErrTemporary, domain, err)
	case !found:
		return nil, fmt.Errorf("%w: %s", ErrNoPeer, domain)
	}
	p, err := d.resolve(ctx, domain, rec)
	if err != nil && !rec.Strict {
		err = fmt.Errorf("%w (%w)", err, ErrSMTPAllowed)
	}
	return p, err
}

func (d *Discovery) resolve(ctx context.Context, domain string, rec Record) (*Peer, error) {
	j, err := jid.Parse(rec.JID)
	if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
		return nil, fmt.Errorf("%w: the record of %s names %q, not a component JID", ErrRefused, domain, rec.JID)
	}
	key, err := d.ServedKey(ctx, j, false)
	if err == nil && !sameFingerprint(Fingerprint(key), rec.Fingerprint) {
		key, err = d.ServedKey(ctx, j, true) // the cached key may predate a key change
	}
	if err != nil {
		return nil, err
	}
	fpr := Fingerprint(key)
	if !sameFingerprint(fpr, rec.Fingerprint) {
		return nil, fmt.Errorf("%w: the key %s serves (%s) does not match the record of %s (%s)",
			ErrRefused, j, fpr, domain, rec.Fingerprint)
	}
	return d.check(ctx, domain, rec, j, key)
}

func (d *Discovery) check(ctx context.Context, domain string, rec Record, j jid.JID, key *openpgp.Entity) (*Peer, error) {
	v, reason, err := d.cfg.Trust.Check(ctx, domain, rec, key.PrimaryKey.Fingerprint)
	if err != nil {
		return nil, fmt.Errorf("%w: trust store: %w", ErrTemporary, err)
	}
	switch v {
	case Hold:
		return nil, fmt.Errorf("%w: %s: %s", ErrHeld, domain, reason)
	case Refuse:
		return nil, fmt.Errorf("%w: %s: %s", ErrRefused, domain, reason)
	}
	return &Peer{Domain: domain, JID: j, Key: key, Fingerprint: Fingerprint(key), Strict: rec.Strict, Reason: reason}, nil
}

// Publishes reports whether domain publishes a gateway record; a lookup
// that failed counts as yes (the mail then waits for the peer instead of
// leaving over SMTP, which a strict peer forbids).
func (d *Discovery) Publishes(ctx context.Context, domain string) bool {
	_, found, err := d.cfg.Records.Lookup(ctx, strings.ToLower(domain))
	return found || err != nil
}

// ServedKey returns the domain key the component j serves, from the cache
// unless fresh.
func (d *Discovery) ServedKey(ctx context.Context, j jid.JID, fresh bool) (*openpgp.Entity, error) {
	now := d.cfg.Now()
	d.mu.Lock()
	sk, ok := d.keys[j.String()]
	d.mu.Unlock()
	if ok && !fresh && now.Before(sk.expires) {
		return sk.key, nil
	}
	key, err := d.fetchKey(ctx, j)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.keys) > 10000 {
		clear(d.keys)
	}
	d.keys[j.String()] = servedKey{key: key, expires: now.Add(d.cfg.KeyTTL)}
	d.mu.Unlock()
	return key, nil
}

// fetchKey asks j for its domain key (<key xmlns='urn:passerelle:peer:0'/>).
func (d *Discovery) fetchKey(ctx context.Context, j jid.JID) (*openpgp.Entity, error) {
	r, err := d.cfg.IQ.IQ(ctx, stanza.IQ{To: j, Type: stanza.GetIQ}, xmpp.Tokens(peermsg.KeyRequest()...))
	if err != nil {
		var xe *xmpp.Error
		if errors.As(err, &xe) && !xe.Temporary() {
			return nil, fmt.Errorf("%w: %s serves no peer key: %w", ErrRefused, j, err)
		}
		return nil, fmt.Errorf("%w: key of %s: %w", ErrTemporary, j, err)
	}
	_, pub, err := peermsg.ParseKey(r, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("%w: key of %s: %w", ErrRefused, j, err)
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(pub))
	if err != nil || len(el) != 1 || el[0].PrivateKey != nil {
		return nil, fmt.Errorf("%w: key of %s is not one public key: %v", ErrRefused, j, err)
	}
	return el[0], nil
}

// retryable tells the queue how to treat a discovery error at delivery:
// always as temporary. The mail was accepted for a peer that verified at
// RCPT; a refusal now (the served key no longer matching the record, a
// record naming another component) is most often a key rotation in
// progress, and if it is an attack the mail must not go anywhere else
// either: it waits, visible in `passerelle queue list`, and the lifetime's
// DSN carries the reason.
func retryable(err error, retry time.Duration) error {
	diag := queue.Diagnostic{Type: "x-passerelle-peer", Text: err.Error()}
	switch {
	case errors.Is(err, ErrRefused):
		diag.Status = "4.7.1"
	case errors.Is(err, ErrHeld):
		diag.Status = "4.7.0"
	case errors.Is(err, ErrNoPeer):
		diag.Status = "4.4.4"
	default:
		diag.Status = "4.4.3"
	}
	return queue.RetryAfter(queue.WithDiagnostic(err, diag), retry)
}
