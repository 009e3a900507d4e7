package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/peermsg"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/addrhash"
	"passerelle/policy"
)

// Recipient parameters of a spooled transfer.
const (
	ParamDomain = "peer-domain" // the peer mail domain
	ParamJID    = "peer-jid"    // its component, as resolved at RCPT
	ParamID     = "peer-id"     // the transfer id, fixed across retries
	ParamFpr    = "peer-fpr"    // the domain key the transfer is encrypted to
	// ParamTransfer marks, at the receiver, a queued recipient with the
	// transfer it came in ("sending JID" SP "transfer id"), so that a
	// restart finds transfers stored but not yet recorded (SeedDedup).
	ParamTransfer = "peer-transfer"
)

// KeyResolver finds a recipient's published key (*keys.Resolver).
type KeyResolver interface {
	Resolve(ctx context.Context, addr string) (keys.Result, error)
}

// Resolver finds the verified gateway of a domain (*Discovery).
type Resolver interface {
	Resolve(ctx context.Context, domain string) (*Peer, error)
}

// Uploader stores an encrypted blob with XEP-0363 and returns its URL
// (bridge/upload.Uploader).
type Uploader interface {
	Upload(ctx context.Context, r io.Reader, size int64) (string, error)
}

// RouteConfig configures a Route.
type RouteConfig struct {
	Peers    Resolver
	Policy   *policy.Policy
	Self     string          // our component JID
	Key      *openpgp.Entity // our domain key, with its secret
	Domains  []string        // our mail domains; the first is the sender domain of DSNs
	Uploader Uploader        // large mail; nil refuses mail over the stanza limit
	// RcptKeys, if set, finds a recipient's own published key (XEP-0373 PEP
	// over federation, the keyring): such recipients get the end-to-end
	// <sealed/> copy the peer gateway cannot read.
	RcptKeys KeyResolver
	// MaxStanza is the largest stanza the servers carry (Prosody: 512 KiB
	// on s2s links).
	MaxStanza int
	// Fallback is the queue route (MX delivery, "smtp") that takes mail
	// for a domain whose record says policy=mixed while its gateway cannot
	// be used at RCPT (unreachable, key change held, failed verification);
	// "": such mail waits (451) or is refused like a strict domain's. It
	// is decided at RCPT only: once spooled, a transfer is sealed to the
	// peer's key and waits for the peer.
	Fallback string
	// Plaintext, if set, counts each message spooled in clear for the
	// fallback (the plaintext metric).
	Plaintext func()
	Log       *zap.Logger
	HashAddr  func(string) string
	Now       func() time.Time
}

// Route decides at RCPT for recipients outside the local domains and
// seals their transfers before the spool (internal/forward's PeerRoute).
type Route struct {
	cfg RouteConfig
	log *zap.Logger
}

// NewRoute returns a Route.
func NewRoute(cfg RouteConfig) (*Route, error) {
	if cfg.Peers == nil || cfg.Policy == nil || cfg.Key == nil || cfg.Key.PrivateKey == nil || cfg.Self == "" || len(cfg.Domains) == 0 {
		return nil, errors.New("peer: route needs Peers, Policy, Key (secret), Self and Domains")
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
	return &Route{cfg: cfg, log: cfg.Log.Named("peer")}, nil
}

// decision travels with a peer recipient from Rcpt to Seal.
type decision struct {
	peer *Peer
	key  *openpgp.Entity // the recipient's own key, if found: end to end
}

// smtpFallback is the decision for a recipient of a policy=mixed domain
// whose gateway cannot be used: the mail goes over SMTP (RouteConfig.Fallback).
type smtpFallback struct{}

// Replies at RCPT.
var (
	errNoRoute       = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 3, 5}, Msg: "No route to this recipient is configured"}
	errNoRecord      = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 4, 4}, Msg: "Recipient domain publishes no Passerelle gateway record"}
	errPeerTemporary = &smtpd.Reject{Code: 451, Enhanced: [3]int{4, 4, 3}, Msg: "Peer gateway lookup failed, please try again later"}
	errPeerHeld      = &smtpd.Reject{Code: 451, Enhanced: [3]int{4, 7, 0}, Msg: "Peer gateway key changed; held for operator review"}
	errPeerRefused   = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1}, Msg: "Peer gateway failed verification"}
	errForeignSender = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1}, Msg: "Sender domain is not served by this gateway; the peer route speaks only for local domains"}
	errTooLargePeer  = &smtpd.Reject{Code: 552, Enhanced: [3]int{5, 3, 4}, Msg: "Message too large for the peer route"}
	errUploadFailed  = &smtpd.Reject{Code: 451, Enhanced: [3]int{4, 4, 0}, Msg: "Large-message storage unavailable, please try again later"}
)

// Rcpt decides for a recipient outside the local domains. The MX listener
// relays only to domains the policy explicitly routes to "peer" (the
// operator's own MTA hands them over, as Postfix relay_domains); an
// authenticated submission user may send to any domain whose record
// verifies. Under the peer route the envelope sender must be ours (or
// <>): the peer checks that our record covers its domain.
func (r *Route) Rcpt(ctx context.Context, s *smtpd.Info, from, to string) (any, error) {
	d := r.cfg.Policy.Decide(to)
	explicit := d.Route == policy.RoutePeer && d.Source["route"] != "default" && d.Source["route"] != "global"
	if d.Route != policy.RoutePeer && d.Source["route"] != "default" && d.Source["route"] != "global" {
		return nil, errNoRoute // the operator routes this domain elsewhere
	}
	if s.Mode == smtpd.ModeMX && !explicit {
		return nil, smtpd.RelayDenied
	}
	if from != "" && !r.cfg.Policy.IsLocal(from) {
		return nil, errForeignSender
	}
	p, err := r.cfg.Peers.Resolve(ctx, peermsg.Domain(to))
	switch {
	case err == nil:
		d := &decision{peer: p, key: r.rcptKey(ctx, to)}
		r.log.Debug("peer recipient", zap.String("rcpt", r.cfg.HashAddr(to)), zap.Stringer("peer", p.JID),
			zap.Bool("end_to_end", d.key != nil))
		return d, nil
	case errors.Is(err, ErrNoPeer) && explicit:
		r.log.Info("refused: peer domain without record", zap.String("rcpt", r.cfg.HashAddr(to)), zap.Error(err))
		return nil, errNoRecord
	case errors.Is(err, ErrNoPeer):
		return nil, errNoRoute
	case errors.Is(err, ErrSMTPAllowed) && r.cfg.Fallback != "":
		r.log.Warn("peer gateway unusable; the domain publishes policy=mixed: this recipient goes over SMTP",
			zap.String("rcpt", r.cfg.HashAddr(to)), zap.Error(err))
		return smtpFallback{}, nil
	case errors.Is(err, ErrHeld):
		r.log.Warn("peer held", zap.Error(err))
		return nil, errPeerHeld
	case errors.Is(err, ErrRefused):
		r.log.Warn("peer refused", zap.Error(err))
		return nil, errPeerRefused
	}
	r.log.Warn("peer lookup failed", zap.Error(err))
	return nil, errPeerTemporary
}

// rcptKey is the recipient's own key, or nil: the transfer is then
// readable by the peer gateway only (any lookup failure falls back to it).
func (r *Route) rcptKey(ctx context.Context, addr string) *openpgp.Entity {
	if r.cfg.RcptKeys == nil {
		return nil
	}
	res, err := r.cfg.RcptKeys.Resolve(ctx, addr)
	if err != nil {
		if !errors.Is(err, keys.ErrNoKey) {
			r.log.Info("recipient key lookup failed: sealing to the peer gateway only", zap.String("rcpt", r.cfg.HashAddr(addr)), zap.Error(err))
		}
		return nil
	}
	return res.Key
}

// Seal builds one transfer per peer domain for rcpts (whose routes came
// from Rcpt): the envelope and the whole message raw, signed by our domain
// key and encrypted to the peer's, so the spool holds only what the peer
// can read. It returns the queue recipients (Body indexes bodies).
func (r *Route) Seal(ctx context.Context, env *smtpd.Envelope, raw, inner []byte, rcpts []smtpd.Recipient) ([]queue.Recipient, [][]byte, error) {
	var (
		out    []queue.Recipient
		bodies [][]byte
		order  []string
		groups = map[string][]smtpd.Recipient{}
		peers  = map[string]*Peer{}
	)
	fallback := -1 // index of the mail in clear, for the SMTP fallback
	for _, rc := range rcpts {
		if _, ok := rc.Route.(smtpFallback); ok {
			if fallback < 0 {
				fallback, bodies = len(bodies), append(bodies, raw)
				if r.cfg.Plaintext != nil {
					r.cfg.Plaintext()
				}
			}
			out = append(out, queue.Recipient{Addr: rc.Addr, Route: r.cfg.Fallback, Body: fallback, Notify: rc.Notify,
				ORCPT: orcpt(rc.ORcpt)})
			continue
		}
		d, ok := rc.Route.(*decision)
		if !ok {
			return nil, nil, errors.New("peer: recipient without a peer decision")
		}
		dom := d.peer.Domain
		if _, ok := groups[dom]; !ok {
			order = append(order, dom)
			peers[dom] = d.peer
		}
		groups[dom] = append(groups[dom], rc)
	}
	for _, dom := range order {
		p := peers[dom]
		id := queue.NewID()
		ct, err := r.sealOne(ctx, env, raw, inner, p, id, groups[dom])
		if err != nil {
			return nil, nil, err
		}
		for _, rc := range groups[dom] {
			out = append(out, queue.Recipient{Addr: rc.Addr, Route: RouteName, Body: len(bodies), Notify: rc.Notify,
				ORCPT: orcpt(rc.ORcpt), Params: map[string]string{ParamDomain: dom, ParamJID: p.JID.String(),
					ParamID: id, ParamFpr: p.Fingerprint}})
		}
		bodies = append(bodies, ct)
	}
	return out, bodies, nil
}

func (r *Route) sealOne(ctx context.Context, env *smtpd.Envelope, raw, inner []byte, p *Peer, id string, rcpts []smtpd.Recipient) ([]byte, error) {
	e := &peermsg.Envelope{ID: id, MailFrom: env.From, EnvID: env.Params.EnvID, SenderDomain: r.cfg.Domains[0]}
	if env.From != "" {
		e.SenderDomain = peermsg.Domain(env.From)
	}
	for _, rc := range rcpts {
		e.Rcpts = append(e.Rcpts, peermsg.Rcpt{Addr: rc.Addr, ORCPT: orcpt(rc.ORcpt), Notify: rc.Notify})
	}
	sealed, err := r.endToEnd(rcpts, inner)
	if err != nil {
		return nil, err
	}
	if e.Sealed = sealed; len(sealed) < len(rcpts) {
		e.Mail = &payload.Mail{Raw: raw} // someone needs it in clear at the peer
	}
	ct, err := r.seal(p, e)
	if err != nil || r.fits(id, ct) {
		return ct, err
	}
	if len(e.Sealed) > 0 {
		// Too large with the end-to-end copies: send what the peer can
		// read, with the mail over upload (version 0 has no external form
		// inside a sealed copy).
		r.log.Info("large mail to the peer: sealed to the peer gateway only", zap.String("transfer", id))
		e.Sealed = nil
	}
	e.Mail = &payload.Mail{}
	if e.Mail.External, err = r.upload(ctx, raw); err != nil {
		return nil, err
	}
	return r.seal(p, e)
}

func (r *Route) fits(id string, ct []byte) bool {
	return (peermsg.Transfer{ID: id, Data: ct}).StanzaSize()+512 <= r.cfg.MaxStanza
}

// endToEnd seals, for each recipient whose own key was found, the XEP-0373
// signcrypt the peer would otherwise build: addressed to the recipient,
// signed by our domain key, encrypted to the recipient's key only.
func (r *Route) endToEnd(rcpts []smtpd.Recipient, inner []byte) ([]peermsg.Sealed, error) {
	var out []peermsg.Sealed
	for _, rc := range rcpts {
		d, ok := rc.Route.(*decision)
		if !ok || d.key == nil || len(inner) == 0 {
			continue
		}
		ct, err := ox.Seal(ox.SealConfig{To: rc.Addr, Payload: inner, PayloadEncoded: true, Signer: r.cfg.Key,
			Recipients: []*openpgp.Entity{d.key}, Time: r.cfg.Now()})
		if err != nil {
			return nil, fmt.Errorf("peer: seal for %s: %w", r.cfg.HashAddr(rc.Addr), err)
		}
		out = append(out, peermsg.Sealed{Rcpt: rc.Addr, Data: ct})
	}
	return out, nil
}

func (r *Route) seal(p *Peer, e *peermsg.Envelope) ([]byte, error) {
	ct, err := peermsg.Seal(peermsg.SealConfig{To: p.JID.String(), Envelope: e, Signer: r.cfg.Key,
		Peer: p.Key, Time: r.cfg.Now()})
	if errors.Is(err, peermsg.ErrInvalid) {
		r.log.Info("refused: envelope not expressible on the peer route", zap.Error(err))
		return nil, &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 6, 0}, Msg: "Envelope cannot be carried on the peer route"}
	}
	if err != nil {
		return nil, fmt.Errorf("peer: seal for %s: %w", p.JID, err)
	}
	return ct, nil
}

// upload moves a large mail out of the transfer (UploadExternal).
func (r *Route) upload(ctx context.Context, raw []byte) (*payload.External, error) {
	ext, err := UploadExternal(ctx, r.cfg.Uploader, raw, r.log)
	if err == nil {
		r.log.Info("large mail to the peer: uploaded", zap.Int64("bytes", ext.Size))
	}
	return ext, err
}

func orcpt(a string) string {
	if a == "" || strings.Contains(a, ";") {
		return a
	}
	return "rfc822;" + a
}
