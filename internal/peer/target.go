package peer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
)

// TargetConfig configures a Target.
type TargetConfig struct {
	Peers Resolver
	IQ    IQer
	// Retry is the delay after a temporary failure (peer down, key held);
	// 0: one minute. The queue's own backoff (30 minutes and up) suits
	// strangers' MXes, not a peer that restarts.
	Retry   time.Duration
	MaxBody int64 // largest spooled transfer it reads; 0: 1 MiB
	// MaxPerPeer bounds the transfers in flight to one peer domain; 0: 4.
	MaxPerPeer int
	// Sealer seals, at delivery, messages spooled in clear for a peer
	// domain: the DSNs the queue writes to senders at peer sites (the
	// bounce route sends them here, not over SMTP). nil: such messages fail.
	Sealer *Route
	Log    *zap.Logger
}

// Target sends spooled transfers (queue route "peer"). Recipients of one
// message and peer domain share one transfer: the first Deliver sends it,
// the others take their result from the same ack. It implements
// queue.Target.
type Target struct {
	cfg TargetConfig
	log *zap.Logger

	mu    sync.Mutex
	acks  map[string]*peermsg.Ack // by transfer id, for the message's other recipients
	limit *perPeer
}

// NewTarget returns a Target.
func NewTarget(cfg TargetConfig) (*Target, error) {
	if cfg.Peers == nil || cfg.IQ == nil {
		return nil, errors.New("peer: target needs Peers and IQ")
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Minute
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxPerPeer <= 0 {
		cfg.MaxPerPeer = 4
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Target{cfg: cfg, log: cfg.Log.Named("peer"), acks: map[string]*peermsg.Ack{},
		limit: &perPeer{max: cfg.MaxPerPeer, sem: map[string]chan struct{}{}}}, nil
}

// maxAcks bounds the ack cache; a lost entry only costs a repeated
// transfer, which the peer answers from its duplicate store.
const maxAcks = 10000

// Deliver sends the recipient's transfer, or answers from the ack the
// transfer already got. It succeeds only when the peer acknowledged that
// it stored the mail.
func (t *Target) Deliver(ctx context.Context, d *queue.Delivery) error {
	p := d.Recipient.Params
	id, dom := p[ParamID], p[ParamDomain]
	if id == "" && d.Body.Kind == queue.BodyMessage {
		id = clearID(d) // sealed at delivery: an id fixed across retries all the same
	}
	if !peermsg.ValidID(id) || dom == "" {
		return queue.Permanent(fmt.Errorf("peer: bad recipient parameters"))
	}
	if ack := t.ack(id); ack != nil {
		return result(ack, d.Recipient.Addr)
	}
	peer, err := t.cfg.Peers.Resolve(ctx, dom)
	if err != nil {
		return retryable(err, t.cfg.Retry)
	}
	if p[ParamFpr] == "" && d.Body.Kind == queue.BodyMessage {
		return t.deliverClear(ctx, d, peer, id)
	}
	if !sameFingerprint(peer.Fingerprint, p[ParamFpr]) {
		// Sealed to a key the peer no longer uses; we cannot re-seal
		// (the spool is not readable by us). Retry until the lifetime
		// ends, in case the old key comes back, then the DSN says why.
		err := fmt.Errorf("peer: %s now uses key %s; this mail was encrypted to %s", dom, peer.Fingerprint, p[ParamFpr])
		return queue.RetryAfter(queue.WithDiagnostic(err, queue.Diagnostic{Status: "4.7.0", Type: "x-passerelle-peer", Text: err.Error()}), t.cfg.Retry)
	}
	data, err := t.readBody(ctx, d)
	if err != nil {
		return err
	}
	release, err := t.limit.acquire(ctx, dom)
	if err != nil {
		return queue.RetryAfter(fmt.Errorf("peer: waiting for a free slot to %s: %w", dom, err), t.cfg.Retry)
	}
	defer release()
	ack, err := t.send(ctx, peer.JID, peermsg.Transfer{ID: id, Data: data})
	if err != nil {
		return err
	}
	t.remember(ack)
	t.log.Info("transfer acknowledged", zap.String("id", d.ID), zap.String("transfer", id), zap.Stringer("peer", peer.JID))
	return result(ack, d.Recipient.Addr)
}

// deliverClear seals a message spooled in clear (a DSN) for the peer now,
// with the key the peer has now, and sends it.
func (t *Target) deliverClear(ctx context.Context, d *queue.Delivery, peer *Peer, id string) error {
	if t.cfg.Sealer == nil {
		return queue.Permanent(errors.New("peer: no sealer for a message spooled in clear"))
	}
	raw, err := t.readBody(ctx, d)
	if err != nil {
		return err
	}
	env := &smtpd.Envelope{From: d.From, Params: smtpd.MailParams{EnvID: d.EnvID}}
	rc := smtpd.Recipient{Addr: d.Recipient.Addr, Route: &decision{peer: peer}, Notify: d.Recipient.Notify,
		ORcpt: stripRFC822(d.Recipient.ORCPT)}
	ct, err := t.cfg.Sealer.sealOne(ctx, env, raw, nil, peer, id, []smtpd.Recipient{rc})
	if err != nil {
		return fmt.Errorf("peer: seal at delivery: %w", err)
	}
	release, err := t.limit.acquire(ctx, peer.Domain)
	if err != nil {
		return queue.RetryAfter(fmt.Errorf("peer: waiting for a free slot to %s: %w", peer.Domain, err), t.cfg.Retry)
	}
	defer release()
	ack, err := t.send(ctx, peer.JID, peermsg.Transfer{ID: id, Data: ct})
	if err != nil {
		return err
	}
	return result(ack, d.Recipient.Addr)
}

// clearID is the transfer id of a message sealed at delivery: its spool
// id and a hash of the recipient.
func clearID(d *queue.Delivery) string {
	sum := sha256.Sum256([]byte(strings.ToLower(d.Recipient.Addr)))
	return "c" + d.ID + "-" + hex.EncodeToString(sum[:4])
}

func (t *Target) send(ctx context.Context, to jid.JID, tr peermsg.Transfer) (*peermsg.Ack, error) {
	r, err := t.cfg.IQ.IQ(ctx, stanza.IQ{To: to, Type: stanza.SetIQ}, xmpp.Tokens(tr.Tokens()...))
	if err != nil {
		return nil, t.classify(err)
	}
	ack, err := peermsg.ParseAck(r, 1000)
	if err != nil || ack.ID != tr.ID {
		err = fmt.Errorf("peer: %s answered the transfer with no valid ack: %v", to, err)
		return nil, queue.RetryAfter(err, t.cfg.Retry)
	}
	return ack, nil
}

// classify maps an XMPP error to the queue's terms: a stanza error of
// type wait (or a condition worth a retry, or link trouble) is temporary;
// cancel, modify and auth are permanent, with the peer's RFC 3463 status
// from the error text when it gave one.
func (t *Target) classify(err error) error {
	var xe *xmpp.Error
	if !errors.As(err, &xe) {
		return queue.RetryAfter(err, t.cfg.Retry)
	}
	status, ok := peermsg.StatusOf(xe.Text)
	// Only the peer gateway's own refusals (they carry an RFC 3463 status)
	// are final: an error without one comes from a server on the way (the
	// peer's component not connected, a server restarting), and the record
	// says the gateway exists, so it is retried until the lifetime ends.
	temp := xe.Temporary() || xe.Type == string(stanza.Wait) || xe.Type == "" || !ok
	if !ok || (temp && status[0] != '4') || (!temp && status[0] != '5') {
		status = "5.0.0"
		if temp {
			status = "4.0.0"
		}
	}
	diag := queue.Diagnostic{Status: status, Type: "x-xmpp", Text: xe.Condition}
	if xe.Text != "" {
		diag.Text += ": " + xe.Text
	}
	err = queue.WithDiagnostic(err, diag)
	if temp {
		return queue.RetryAfter(err, t.cfg.Retry)
	}
	return queue.Permanent(err)
}

// result is the ack's answer for one recipient. A recipient the ack does
// not mention was not taken: temporary.
func result(ack *peermsg.Ack, addr string) error {
	r, ok := ack.Result(addr)
	switch {
	case !ok:
		return fmt.Errorf("peer: ack %s does not mention this recipient", ack.ID)
	case r.Permanent():
		err := fmt.Errorf("peer refused the recipient: %s %s", r.Status, r.Text)
		return queue.Permanent(queue.WithDiagnostic(err, queue.Diagnostic{Status: r.Status, Type: "x-passerelle-peer", Text: r.Status + " " + r.Text}))
	}
	return nil
}

func (t *Target) ack(id string) *peermsg.Ack {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acks[id]
}

func (t *Target) remember(a *peermsg.Ack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.acks) >= maxAcks {
		clear(t.acks)
	}
	t.acks[a.ID] = a
}

func (t *Target) readBody(ctx context.Context, d *queue.Delivery) ([]byte, error) {
	rc, err := d.OpenBody(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, t.cfg.MaxBody+1))
	if err != nil {
		return nil, err // ErrDamaged passes through: the queue quarantines
	}
	if int64(len(b)) > t.cfg.MaxBody {
		return nil, queue.Permanent(fmt.Errorf("peer: spooled transfer over %d bytes", t.cfg.MaxBody))
	}
	return b, nil
}
