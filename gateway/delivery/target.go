package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"passerelle/gateway/dane"
	"strconv"
	"time"

	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// Message is one recipient's copy of a message to send.
type Message struct {
	ID   string    // queue id, for logs
	From string    // RFC 5321 reverse-path; "" is the null sender
	To   string    // the recipient
	Size int64     // body size in bytes for SIZE (RFC 1870); 0 if unknown
	Body io.Reader // CRLF RFC 5322 text; read at most once, during DATA

	EnvID  string   // RFC 3461 ENVID, passed on if the server offers DSN
	ORCPT  string   // RFC 3461 ORCPT, "rfc822;addr"
	Notify []string // RFC 3461 NOTIFY keywords

	// DSNPassedOn is set by Send when the server that accepted the
	// message offers DSN: the parameters went with it.
	DSNPassedOn bool
}

// Target sends mail over SMTP. It implements the queue's Target and is
// safe for concurrent use.
type Target struct {
	cfg   Config
	log   *zap.Logger
	limit *limiter
}

// New returns a Target for cfg.
func New(cfg Config) (*Target, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Target{cfg: cfg, log: cfg.Logger.Named("delivery"), limit: newLimiter(cfg.MaxPerDestination)}, nil
}

// Deliver implements the queue's Target.
func (t *Target) Deliver(ctx context.Context, d *queue.Delivery) error {
	body, err := d.OpenBody(ctx)
	if err != nil {
		return fmt.Errorf("open body: %w", err)
	}
	defer body.Close()
	m := &Message{
		ID: d.ID, From: d.From, To: d.Recipient.Addr, Size: d.Body.Size, Body: body,
		EnvID: d.EnvID, ORCPT: d.Recipient.ORCPT, Notify: d.Recipient.Notify,
	}
	err = t.Send(ctx, m)
	d.PassedOn = m.DSNPassedOn
	return err
}

// Relays implements queue.Relayer: the next hop is another MTA, so a
// success notice says "relayed" unless the hop took NOTIFY itself.
func (t *Target) Relays() bool { return true }

// Send delivers m to its recipient: through the smarthost if one is
// configured, else to the recipient domain's MX hosts. It returns nil once
// a server has accepted the message. Errors follow the queue's contract:
// permanent ones are marked with queue.Permanent, and those caused by a
// reply or a host carry a queue.Diagnostic.
func (t *Target) Send(ctx context.Context, m *Message) error {
	start := time.Now()
	domain, err := recipientDomain(m.To)
	if err != nil {
		return err
	}
	key := domain
	if t.cfg.Smarthost != nil {
		key = ""
	}
	release, err := t.limit.acquire(ctx, key)
	if err != nil {
		return err
	}
	defer release()
	if t.cfg.Smarthost != nil {
		err = t.sendSmarthost(ctx, m)
	} else {
		err = t.sendMX(ctx, domain, m)
	}
	t.logFailure(m, err, time.Since(start))
	return err
}

func (t *Target) sendSmarthost(ctx context.Context, m *Message) error {
	sh := t.cfg.Smarthost
	host, _, _ := net.SplitHostPort(sh.Addr)
	s := &session{host: host, addr: sh.Addr, mode: tlsRequired, tlsConfig: t.smarthostTLS(host)}
	switch {
	case sh.ImplicitTLS:
		s.mode = tlsImplicit
	case sh.Plaintext:
		s.mode, s.tlsConfig = tlsOpportunistic, opportunisticTLS(host)
	}
	s.auth = sh.Username != ""
	err := t.tryHost(ctx, s, m)
	var he *hostError
	if errors.As(err, &he) {
		return classify(he)
	}
	return err
}

// sendMX tries each MX host and each of its addresses in turn until one
// accepts or rejects the recipient (RFC 5321 §5.1).
func (t *Target) sendMX(ctx context.Context, domain string, m *Message) error {
	pol, err := t.policy(ctx, domain)
	if err != nil {
		return err
	}
	hosts, implicit, err := t.mxHosts(ctx, domain)
	if err != nil {
		return err
	}
	secure, err := t.secureMX(ctx, domain, pol)
	if err != nil {
		return err
	}
	var skipped error
	for _, h := range hosts {
		if pol.AllowMX != nil && !pol.AllowMX(h) {
			skipped = worse(skipped, localFailure(false, "4.7.5", "%s: MX host not allowed by TLS policy", h))
			continue
		}
		hpol := pol
		if secure {
			if hpol, err = t.danePolicy(ctx, h, pol, m); err != nil {
				skipped = worse(skipped, err)
				continue
			}
		}
		addrs, err := t.hostAddrs(ctx, h, implicit)
		if err != nil {
			skipped = worse(skipped, err)
			continue
		}
		done, err := t.tryAddrs(ctx, h, addrs, hpol, m)
		if done {
			return err
		}
		skipped = err
	}
	if skipped == nil {
		return localFailure(true, "5.4.4", "%s: no mail exchanger", domain)
	}
	return skipped
}

// secureMX reports whether DANE applies to domain's MX hosts: DANE is
// configured, the domain's TLS policy is not "none", and its MX answer is
// DNSSEC-validated.
func (t *Target) secureMX(ctx context.Context, domain string, pol Policy) (bool, error) {
	if t.cfg.DANE == nil || pol.Level == TLSNone {
		return false, nil
	}
	secure, err := t.cfg.DANE.SecureMX(ctx, domain)
	if err != nil {
		return false, localFailure(false, "4.4.3", "DNSSEC MX lookup of %s: %v", domain, err)
	}
	return secure, nil
}

// danePolicy is the TLS policy of MX host h of a secure domain (RFC 7672
// §2.2): usable TLSA records make TLS mandatory and verified against them
// (over MTA-STS, RFC 8461 §2); secure records none of which is usable
// still make it mandatory, unauthenticated; no records, or an insecure
// answer, leave pol. A failed lookup makes the host unusable.
func (t *Target) danePolicy(ctx context.Context, h string, pol Policy, m *Message) (Policy, error) {
	recs, secure, err := t.cfg.DANE.TLSA(ctx, h, t.cfg.Port)
	switch {
	case err != nil:
		return pol, localFailure(false, "4.7.5", "%s: TLSA lookup failed: %v", h, err)
	case !secure || len(recs) == 0:
		return pol, nil
	}
	usable := dane.Usable(recs)
	if len(usable) == 0 {
		t.log.Info("DANE: TLSA records, none usable: TLS required, unauthenticated", zap.String("id", m.ID), zap.String("host", h))
		if strength(pol.Level) < strength(TLSEncrypt) {
			pol.Level = TLSEncrypt
		}
		return pol, nil
	}
	t.log.Debug("DANE: TLS must verify against TLSA", zap.String("id", m.ID), zap.String("host", h), zap.Int("records", len(usable)))
	pol.Level = TLSVerify
	pol.Verify = func(host string, cs tls.ConnectionState) error { return dane.Verify(usable, host, cs, time.Now()) }
	return pol, nil
}

// tryAddrs tries each address of host; done is true when no other host
// should be tried.
func (t *Target) tryAddrs(ctx context.Context, host string, addrs []netip.Addr, pol Policy, m *Message) (done bool, err error) {
	var last *hostError
	for _, a := range addrs {
		s := &session{host: host, addr: net.JoinHostPort(a.String(), strconv.Itoa(t.cfg.Port)),
			mode: mxMode(pol.Level), tlsConfig: t.mxTLS(host, pol)}
		err := t.tryHost(ctx, s, m)
		var he *hostError
		if !errors.As(err, &he) {
			return true, err // delivered, or a local failure
		}
		if he.final() {
			return true, classify(he)
		}
		last = he
		t.log.Debug("host failed", zap.String("id", m.ID), zap.String("addr", s.addr), zap.Error(err))
	}
	return false, classify(last)
}

// mxMode is the session mode for a TLS level.
func mxMode(l TLSLevel) tlsMode {
	switch {
	case l == TLSNone:
		return tlsNone
	case l.required():
		return tlsRequired
	}
	return tlsOpportunistic
}

// tryHost runs one session, retrying in plaintext if opportunistic
// STARTTLS failed (as Postfix does at level may: encryption is optional
// there). A level that requires TLS never gets here with
// tlsOpportunistic, so it is never downgraded.
func (t *Target) tryHost(ctx context.Context, s *session, m *Message) error {
	err := t.attempt(ctx, s, m)
	var he *hostError
	if s.mode == tlsOpportunistic && errors.As(err, &he) && he.stage == stageTLS && ctx.Err() == nil {
		t.log.Debug("STARTTLS failed, retrying in plaintext", zap.String("host", s.host), zap.Error(err))
		s.mode, s.fellBack = tlsNone, true
		err = t.attempt(ctx, s, m)
	}
	return err
}

func (t *Target) policy(ctx context.Context, domain string) (Policy, error) {
	if t.cfg.TLSPolicy == nil {
		return Policy{}, nil
	}
	pol, err := t.cfg.TLSPolicy(ctx, domain)
	if err != nil {
		return pol, localFailure(false, "4.7.5", "TLS policy for %s: %v", domain, err)
	}
	return pol, nil
}

func (t *Target) logFailure(m *Message, err error, took time.Duration) {
	if err != nil {
		// The queue logs the failure where it handles it; this is a trace.
		t.log.Debug("delivery failed", zap.String("id", m.ID),
			zap.String("rcpt", t.cfg.HashAddress(m.To)), zap.Duration("took", took), zap.Error(err))
	}
}
