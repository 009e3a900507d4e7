package peer

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/ox"
	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/forward"
	"passerelle/internal/ratelimit"
	"passerelle/policy"
)

// Local is the local side that takes a received mail: the forward path's
// smtpd.Router and smtpd.Sink (*forward.Forward), which resolve each
// recipient (XMPP user with its key, or the local MTA) and spool with
// fsync before Accept returns.
type Local interface {
	Rcpt(ctx context.Context, s *smtpd.Info, from, to string) (any, error)
	Accept(ctx context.Context, env *smtpd.Envelope, data []byte) error
}

// PeerSink is implemented by a Local that can record that the peer route
// verified the sender domain (forward.Forward.AcceptPeer), so the mail is
// not marked as unverified.
type PeerSink interface {
	AcceptPeer(ctx context.Context, env *smtpd.Envelope, data []byte, gateway, senderDomain string) error
}

// Spooler stores a message durably (queue.Queue).
type Spooler interface {
	Put(ctx context.Context, env *queue.Envelope, bodies ...io.Reader) error
}

// Downloader fetches an external mail's blob (bridge/upload.Uploader).
type Downloader interface {
	Fetch(ctx context.Context, url string, maxSize int64) ([]byte, error)
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	Self    string          // our component JID
	Key     *openpgp.Entity // our domain key, with its secret
	Records Records
	Trust   Trust
	Keys    *Discovery // the sending gateway's served key
	Policy  *policy.Policy
	Local   Local
	// Spool stores the end-to-end copies (<sealed/>) as they are, for the
	// forward path's XMPP target (queue.Queue); nil refuses them.
	Spool Spooler
	// ComponentDomain is where the sender's puppet JID lives.
	ComponentDomain string
	Dedup           *Dedup
	Download        Downloader // nil: external mail is refused
	Hostname        string
	Limits          peermsg.Limits
	// RatePerMinute and Burst bound the transfers one sending gateway may
	// make (a token bucket); past it, wait/resource-constraint (4.7.1).
	// 0: 600 a minute, burst 100; <0: no limit.
	RatePerMinute int
	Burst         int
	// Timeout bounds the handling of one transfer (key fetch, lookups,
	// download, spool); 0: 2 minutes.
	Timeout  time.Duration
	Log      *zap.Logger
	HashAddr func(string) string
	Now      func() time.Time
}

// Receiver answers transfers from peer gateways.
type Receiver struct {
	cfg  ReceiverConfig
	log  *zap.Logger
	rate *ratelimit.Keyed // per sending gateway; nil: no limit
}

// NewReceiver returns a Receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Key == nil || cfg.Key.PrivateKey == nil || cfg.Records == nil || cfg.Trust == nil || cfg.Keys == nil ||
		cfg.Policy == nil || cfg.Local == nil || cfg.Dedup == nil || cfg.Self == "" {
		return nil, errors.New("peer: receiver needs Self, Key, Records, Trust, Keys, Policy, Local and Dedup")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HashAddr == nil {
		cfg.HashAddr = func(s string) string { return s }
	}
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute, cfg.Burst = 600, 100
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(cfg.RatePerMinute/6, 1)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	r := &Receiver{cfg: cfg, log: cfg.Log.Named("peer")}
	if cfg.RatePerMinute > 0 { // negative: no limit
		r.rate = ratelimit.New(ratelimit.Config{Rate: float64(cfg.RatePerMinute) / 60, Burst: cfg.Burst, Now: cfg.Now})
	}
	return r, nil
}

// Register installs the transfer handler. It runs off the link's Serve
// loop (it asks the sender for its key and writes to disk).
func (r *Receiver) Register(mux *xmpp.Mux) {
	mux.HandleIQAsync(stanza.SetIQ, peermsg.MailName(), r.handle)
}

// Handle answers one transfer: the handler Register installs, for a
// caller that shares the element with other senders (relay mode's hub
// takes transfers from its clients' accounts on the same element).
func (r *Receiver) Handle(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	return r.handle(ctx, iq, payload)
}

// refusal is a stanza error whose text starts with the RFC 3463 status.
func refusal(typ stanza.ErrorType, cond stanza.Condition, status, reason string) error {
	return stanza.Error{Type: typ, Condition: cond, Text: map[string]string{"": peermsg.ErrorText(status, reason)}}
}

// handle answers one transfer: verify, spool through the local path,
// remember, acknowledge. Nothing is acknowledged before it is on disk.
func (r *Receiver) handle(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	lim := r.limits()
	tr, err := peermsg.ParseTransfer(payload, lim.MaxBytes*4/3+1024)
	if err != nil {
		return nil, refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "malformed transfer")
	}
	from := iq.From.Bare()
	if from.Localpart() != "" {
		return nil, refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "transfers come from a gateway component, not a user")
	}
	log := r.log.With(zap.Stringer("peer", from), zap.String("transfer", tr.ID))
	if r.rate != nil && !r.rate.Allow(from.String()) {
		log.Info("transfer refused for now: sending gateway over its rate")
		return nil, refusal(stanza.Wait, stanza.ResourceConstraint, "4.7.1", "too many transfers, slow down")
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	key := dedupKey(from.String(), tr.ID)
	if !r.cfg.Dedup.Claim(key) {
		return nil, refusal(stanza.Wait, stanza.ResourceConstraint, "4.3.0", "this transfer is being stored")
	}
	defer r.cfg.Dedup.Release(key)
	prior, seeded, err := r.cfg.Dedup.Get(key)
	switch {
	case err != nil:
		log.Error("duplicate store", zap.Error(err))
		return nil, refusal(stanza.Wait, stanza.InternalServerError, "4.3.0", "duplicate store unavailable")
	case prior != nil && !seeded:
		log.Info("duplicate transfer: answered with the stored ack")
		return xmpp.Tokens(prior.Tokens()...), nil
	}
	env, err := r.verify(ctx, from, tr, log)
	if err != nil {
		return nil, err
	}
	tag := from.String() + " " + env.ID
	var ack *peermsg.Ack
	if prior != nil {
		// Stored before a crash that came before its ack was recorded (the
		// spool said so at start-up): store only what was not stored.
		log.Info("transfer stored before a restart: storing only the rest")
		ack, err = r.completeSeeded(ctx, from, env, prior, tag, log)
	} else {
		ack, err = r.store(ctx, from, env, tag, log)
	}
	if err != nil {
		return nil, err
	}
	if err := r.cfg.Dedup.Put(key, ack); err != nil {
		// Stored but not remembered: a retry would store it again. Still
		// acknowledge: a duplicate is recognisable, a loss is not.
		log.Error("transfer stored but not recorded for duplicate suppression", zap.Error(err))
	}
	log.Info("transfer stored", zap.Int("rcpts", len(env.Rcpts)))
	return xmpp.Tokens(ack.Tokens()...), nil
}

// completeSeeded answers a transfer the spool showed as stored: the
// recipients found there are done; the others (refused the first time, or
// never reached) go through store now.
func (r *Receiver) completeSeeded(ctx context.Context, from jid.JID, env *peermsg.Envelope, prior *peermsg.Ack, tag string, log *zap.Logger) (*peermsg.Ack, error) {
	rest := *env
	rest.Rcpts = nil
	for _, rc := range env.Rcpts {
		if _, ok := prior.Result(rc.Addr); !ok {
			rest.Rcpts = append(rest.Rcpts, rc)
		}
	}
	ack := &peermsg.Ack{ID: env.ID, Results: prior.Results}
	if len(rest.Rcpts) == 0 {
		return ack, nil
	}
	more, err := r.store(ctx, from, &rest, tag, log)
	if err != nil {
		return nil, err
	}
	ack.Results = append(ack.Results, more.Results...)
	return ack, nil
}

func (r *Receiver) limits() peermsg.Limits {
	l := r.cfg.Limits
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 20
	}
	return l
}

// verify opens the transfer with the key the sender serves and checks
// that the sender domain's record names the sender and that key, and that
// the trust store accepts it (docs/urn-passerelle-peer-0.md, "Verifying
// the sending gateway").
func (r *Receiver) verify(ctx context.Context, from jid.JID, tr *peermsg.Transfer, log *zap.Logger) (*peermsg.Envelope, error) {
	served, env, err := r.open(ctx, from, tr, false)
	if errors.Is(err, ox.ErrBadSignature) || errors.Is(err, ox.ErrWrongSigner) {
		served, env, err = r.open(ctx, from, tr, true) // the cached key may predate a key change
	}
	switch {
	case errors.Is(err, ErrRefused):
		log.Info("refused: unknown gateway (serves no peer key)", zap.Error(err))
		return nil, refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "sending gateway serves no peer key")
	case errors.Is(err, ErrTemporary):
		log.Warn("sender key unavailable", zap.Error(err))
		return nil, refusal(stanza.Wait, stanza.RemoteServerTimeout, "4.4.3", "cannot fetch the sending gateway's key")
	case errors.Is(err, ox.ErrBadSignature) || errors.Is(err, ox.ErrWrongSigner) || errors.Is(err, ox.ErrUnsigned):
		log.Info("refused: signature does not verify with the served key", zap.Error(err))
		return nil, refusal(stanza.Auth, stanza.NotAuthorized, "5.7.1", "signature does not verify with the key the sending gateway serves")
	case errors.Is(err, ox.ErrTooLarge) || errors.Is(err, peermsg.ErrTooLarge):
		return nil, refusal(stanza.Modify, stanza.NotAcceptable, "5.3.4", "transfer over the size limit")
	case err != nil:
		log.Info("refused: transfer does not open", zap.Error(err))
		return nil, refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "transfer does not open: "+errClass(err))
	case env.ID != tr.ID:
		return nil, refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "envelope id differs from the transfer id")
	}
	if err := r.checkSender(ctx, from, env.SenderDomain, served, log); err != nil {
		return nil, err
	}
	return env, nil
}

func (r *Receiver) open(ctx context.Context, from jid.JID, tr *peermsg.Transfer, fresh bool) (*openpgp.Entity, *peermsg.Envelope, error) {
	served, err := r.cfg.Keys.ServedKey(ctx, from, fresh)
	if err != nil {
		return nil, nil, err
	}
	env, err := peermsg.Open(tr.Data, peermsg.OpenConfig{Self: r.cfg.Self, Keys: r.cfg.Key, Sender: served,
		Now: r.cfg.Now(), Limits: r.cfg.Limits})
	return served, env, err
}

// checkSender: the sender domain's record must name the sending component
// and the key it served; then the trust store decides.
func (r *Receiver) checkSender(ctx context.Context, from jid.JID, domain string, served *openpgp.Entity, log *zap.Logger) error {
	domain = strings.ToLower(domain)
	rec, found, err := r.cfg.Records.Lookup(ctx, domain)
	switch {
	case err != nil:
		log.Warn("sender record lookup failed", zap.String("domain", domain), zap.Error(err))
		return refusal(stanza.Wait, stanza.RemoteServerTimeout, "4.4.3", "record lookup of "+domain+" failed")
	case !found:
		log.Info("refused: sender domain publishes no record", zap.String("domain", domain))
		return refusal(stanza.Auth, stanza.Forbidden, "5.7.1", domain+" publishes no Passerelle gateway record")
	case !strings.EqualFold(rec.JID, from.String()):
		log.Info("refused: sender domain's record names another gateway", zap.String("domain", domain), zap.String("record_jid", rec.JID))
		return refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "sender domain "+domain+" is not served by "+from.String())
	case !sameFingerprint(Fingerprint(served), rec.Fingerprint):
		log.Warn("refused: served key does not match the record", zap.String("domain", domain),
			zap.String("served", Fingerprint(served)), zap.String("record", rec.Fingerprint))
		return refusal(stanza.Auth, stanza.NotAuthorized, "5.7.1", "the sending gateway's key does not match the record of "+domain)
	}
	v, reason, err := r.cfg.Trust.Check(ctx, domain, rec, served.PrimaryKey.Fingerprint)
	switch {
	case err != nil:
		log.Error("trust store", zap.Error(err))
		return refusal(stanza.Wait, stanza.InternalServerError, "4.3.0", "trust store unavailable")
	case v == Hold:
		log.Warn("transfer held: peer key not accepted", zap.String("domain", domain), zap.String("reason", reason))
		return refusal(stanza.Wait, stanza.PolicyViolation, "4.7.0", "key of "+domain+" held for review: "+reason)
	case v == Refuse:
		log.Warn("refused by trust store", zap.String("domain", domain), zap.String("reason", reason))
		return refusal(stanza.Auth, stanza.NotAuthorized, "5.7.1", "key of "+domain+" refused: "+reason)
	}
	return nil
}

func errClass(err error) string {
	for _, e := range []error{ox.ErrWrongRecipient, ox.ErrBadTime, ox.ErrNoDecryptionKey, ox.ErrNotEncrypted, peermsg.ErrInvalid, peermsg.ErrMalformed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "corrupt"
}

// store hands the mail to the local path: each recipient is resolved as
// at RCPT (a permanent refusal is that recipient's result; a temporary
// one fails the whole transfer), then the accepted ones are spooled in
// one Accept, which returns after fsync.
func (r *Receiver) store(ctx context.Context, from jid.JID, env *peermsg.Envelope, tag string, log *zap.Logger) (*peermsg.Ack, error) {
	sealed := map[string][]byte{}
	for _, s := range env.Sealed {
		sealed[strings.ToLower(s.Rcpt)] = s.Data
	}
	if len(sealed) > 0 && r.cfg.Spool == nil {
		return nil, refusal(stanza.Cancel, stanza.FeatureNotImplemented, "5.6.0", "end-to-end <sealed/> copies are not accepted here")
	}
	info := &smtpd.Info{ID: "peer-" + env.ID, Remote: from.String(), Mode: smtpd.ModeMX, Helo: from.String()}
	senv := &smtpd.Envelope{Session: *info, From: env.MailFrom, Params: smtpd.MailParams{EnvID: env.EnvID},
		Time: r.cfg.Now(), Received: r.received(from, env.ID)}
	ack := &peermsg.Ack{ID: env.ID}
	var e2e []peermsg.Rcpt
	for _, rc := range env.Rcpts {
		res, route, err := r.admit(ctx, info, env.MailFrom, rc, sealed, log)
		if err != nil {
			return nil, err
		}
		ack.Results = append(ack.Results, res)
		switch {
		case res.Permanent():
		case sealed[strings.ToLower(rc.Addr)] != nil:
			e2e = append(e2e, rc)
		default:
			senv.Recipients = append(senv.Recipients, smtpd.Recipient{Addr: rc.Addr, Notify: rc.Notify, ORcpt: stripRFC822(rc.ORCPT),
				Route: forward.Tagged{Route: route, Params: map[string]string{ParamTransfer: tag}}})
		}
	}
	if len(e2e) > 0 {
		if err := r.spoolSealed(ctx, env, e2e, sealed, tag, log); err != nil {
			return nil, err
		}
	}
	if len(senv.Recipients) == 0 {
		return ack, nil
	}
	raw, err := r.message(ctx, env, log)
	if err != nil {
		return nil, err
	}
	accept := r.cfg.Local.Accept
	if ps, ok := r.cfg.Local.(PeerSink); ok {
		accept = func(ctx context.Context, se *smtpd.Envelope, data []byte) error {
			return ps.AcceptPeer(ctx, se, data, from.String(), env.SenderDomain)
		}
	}
	if err := accept(ctx, senv, raw); err != nil {
		se := smtpd.SMTPError(err)
		log.Info("local path did not take the transfer", zap.Int("code", se.Code), zap.Error(err))
		if se.Code < 500 {
			return nil, refusal(stanza.Wait, stanza.ResourceConstraint, enhanced(se.EnhancedCode), se.Message)
		}
		return nil, refusal(stanza.Cancel, stanza.NotAcceptable, enhanced(se.EnhancedCode), se.Message)
	}
	return ack, nil
}

// admit resolves one recipient as at RCPT: a permanent refusal is its
// result; a temporary one fails the whole transfer (nothing is stored). A
// recipient with a sealed copy must read mail over XMPP at the JID the
// copy is addressed to (its address: the default directory).
func (r *Receiver) admit(ctx context.Context, info *smtpd.Info, from string, rc peermsg.Rcpt, sealed map[string][]byte, log *zap.Logger) (peermsg.RcptResult, any, error) {
	ok := peermsg.RcptResult{Addr: rc.Addr, Status: peermsg.StatusOK}
	if !r.cfg.Policy.IsLocal(rc.Addr) {
		return peermsg.RcptResult{Addr: rc.Addr, Status: "5.1.2", Text: "not a domain of this gateway"}, nil, nil
	}
	route, err := r.cfg.Local.Rcpt(ctx, info, from, rc.Addr)
	if err != nil {
		se := smtpd.SMTPError(err)
		if se.Code < 500 {
			log.Info("transfer refused for now: a recipient is temporarily unavailable", zap.String("rcpt", r.cfg.HashAddr(rc.Addr)), zap.Int("code", se.Code))
			return ok, nil, refusal(stanza.Wait, stanza.ResourceConstraint, enhanced(se.EnhancedCode), se.Message)
		}
		return peermsg.RcptResult{Addr: rc.Addr, Status: enhanced(se.EnhancedCode), Text: se.Message}, nil, nil
	}
	if sealed[strings.ToLower(rc.Addr)] != nil {
		d := r.cfg.Policy.Decide(rc.Addr)
		if d.Route != policy.RouteXMPP || !strings.EqualFold(r.cfg.Policy.JID(rc.Addr), rc.Addr) {
			return peermsg.RcptResult{Addr: rc.Addr, Status: "5.6.0",
				Text: "the end-to-end copy cannot be delivered: this recipient does not read mail at the XMPP address it was sealed to"}, nil, nil
		}
	}
	return ok, route, nil
}

// spoolSealed stores the end-to-end copies as they came, for the forward
// path's XMPP target: the recipient's client opens them, we cannot.
func (r *Receiver) spoolSealed(ctx context.Context, env *peermsg.Envelope, rcpts []peermsg.Rcpt, sealed map[string][]byte, tag string, log *zap.Logger) error {
	sender := env.MailFrom
	if sender == "" {
		sender = "mailer-daemon@" + env.SenderDomain
	}
	puppet, err := jidesc.PuppetJID(sender, r.cfg.ComponentDomain)
	if err != nil {
		return refusal(stanza.Modify, stanza.BadRequest, "5.1.7", "sender cannot be shown as an XMPP address")
	}
	qenv := &queue.Envelope{From: env.MailFrom, EnvID: env.EnvID}
	var bodies []io.Reader
	for _, rc := range rcpts {
		qenv.Recipients = append(qenv.Recipients, queue.Recipient{Addr: rc.Addr, Route: forward.RouteXMPP,
			Body: len(bodies), Notify: rc.Notify, ORCPT: rc.ORCPT, Params: map[string]string{
				forward.ParamJID: r.cfg.Policy.JID(rc.Addr), forward.ParamFrom: puppet.String(),
				forward.ParamOriginID: queue.NewID(), forward.ParamEnc: "ox", ParamTransfer: tag}})
		bodies = append(bodies, bytes.NewReader(sealed[strings.ToLower(rc.Addr)]))
		qenv.Bodies = append(qenv.Bodies, queue.Body{Kind: queue.BodyOpaque})
	}
	if err := r.cfg.Spool.Put(ctx, qenv, bodies...); err != nil {
		log.Error("spool of end-to-end copies failed", zap.Error(err))
		return refusal(stanza.Wait, stanza.ResourceConstraint, "4.3.0", "spool unavailable")
	}
	log.Info("end-to-end copies stored", zap.String("id", qenv.ID), zap.Int("rcpts", len(rcpts)))
	return nil
}

// message returns the RFC 5322 message: inline, or downloaded and checked.
func (r *Receiver) message(ctx context.Context, env *peermsg.Envelope, log *zap.Logger) ([]byte, error) {
	return OpenExternal(ctx, r.cfg.Download, env.Mail, log)
}

// received is the trace field of the XMPP hop (RFC 5321 §4.4).
func (r *Receiver) received(from jid.JID, id string) string {
	host := r.cfg.Hostname
	if host == "" {
		host = r.cfg.Self
	}
	return fmt.Sprintf("Received: from %s\r\n\tby %s with XMPP (urn:passerelle:peer:0) id %s;\r\n\t%s\r\n",
		from, host, id, r.cfg.Now().Format(time.RFC1123Z))
}

func enhanced(c [3]int) string { return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2]) }

// stripRFC822 turns "rfc822;addr" back into what smtpd hands the Sink
// (forward's orcpt adds the type again).
func stripRFC822(o string) string {
	if len(o) > 7 && strings.EqualFold(o[:7], "rfc822;") {
		return o[7:]
	}
	return o
}
