package relay

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/ox"
	"passerelle/bridge/peermsg"
	"passerelle/bridge/relaymsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/internal/peer"
)

// HubReceiverConfig is what the hub needs to take mail from its clients.
type HubReceiverConfig struct {
	Spool Spooler
	Dedup *peer.Dedup
	// Fallback answers transfers from component JIDs (the peer route's
	// receiver); nil refuses them.
	Fallback xmpp.IQHandler
	Limits   peermsg.Limits
	// Download fetches mail a client sent over upload (XEP-0363 on the
	// hub's own server); nil refuses it.
	Download peer.Downloader
}

// Register installs the hello handler and the transfer handler. Transfers
// share their element with the peer route; those from a component JID go
// to rc.Fallback, those from an account to the relay client logic.
func (h *Hub) Register(mux *xmpp.Mux, rc HubReceiverConfig) error {
	if rc.Spool == nil || rc.Dedup == nil {
		return errors.New("relay: hub receiver needs Spool and Dedup")
	}
	mux.HandleIQAsync(stanza.SetIQ, relaymsg.HelloName(), h.handleHello)
	mux.HandleIQAsync(stanza.SetIQ, peermsg.MailName(), func(ctx context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
		if iq.From.Localpart() == "" {
			if rc.Fallback != nil {
				return rc.Fallback(ctx, iq, p)
			}
			return nil, refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "this gateway takes transfers from its relay clients only")
		}
		return h.handleTransfer(ctx, rc, iq, p)
	})
	return nil
}

// handleHello: a client announces its session and key; the hub checks the
// key against the pinned fingerprint, keeps it (durably: mail for the
// client is sealed to it while the client is offline) and answers with
// its own key.
func (h *Hub) handleHello(_ context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
	c := h.byJID[iq.From.Bare().String()]
	if c == nil || iq.From.Localpart() == "" {
		h.log.Warn("hello refused: not a relay client of this hub", zap.Stringer("from", iq.From.Bare()))
		return nil, refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "not a relay client of this hub")
	}
	hello, err := relaymsg.ParseHello(p)
	if err != nil {
		return nil, refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "malformed hello")
	}
	key, err := ParsePublicKey(hello.Key, c.Fingerprint)
	if err != nil {
		h.log.Warn("hello refused: key does not match the pinned fingerprint", zap.String("client", c.JID), zap.Error(err))
		return nil, refusal(stanza.Auth, stanza.NotAuthorized, "5.7.1", "key does not match the fingerprint pinned for this client")
	}
	if err := h.checkHelloSig(key, iq.From, hello); err != nil {
		h.log.Warn("hello refused: no proof of the client's key", zap.Stringer("session", iq.From), zap.Error(err))
		return nil, refusal(stanza.Auth, stanza.NotAuthorized, "5.7.1", "hello not signed by the client's key for this session")
	}
	old, _ := c.state()
	if old == nil {
		if err := c.file.save(key); err != nil {
			h.log.Error("client key not stored", zap.String("client", c.JID), zap.Error(err))
			return nil, refusal(stanza.Wait, stanza.InternalServerError, "4.3.0", "key store unavailable")
		}
	}
	c.mu.Lock()
	known := c.full.Equal(iq.From)
	c.key, c.full = key, iq.From
	c.mu.Unlock()
	if !known {
		if err := c.session.saveJID(iq.From); err != nil { // only costs a delay after a restart
			h.log.Warn("client session not stored", zap.String("client", c.JID), zap.Error(err))
		}
	}
	h.log.Info("relay client connected", zap.Stringer("client", iq.From))
	return xmpp.Tokens(relaymsg.Hello{Key: h.pub}.Tokens(h.fpr)...), nil
}

// helloSkew bounds the age (and the lead) of a hello's signed time.
const helloSkew = 10 * time.Minute

// checkHelloSig: the hello must be signed by the client's key for this
// session, recently, so that the account password alone cannot redirect
// the client's mail to another session.
func (h *Hub) checkHelloSig(key *openpgp.Entity, session jid.JID, hello *relaymsg.Hello) error {
	if len(hello.Sig) == 0 {
		return errors.New("relay: hello without signature")
	}
	if d := h.cfg.Now().Sub(hello.Time); d > helloSkew || d < -helloSkew {
		return fmt.Errorf("relay: hello signed at %v", hello.Time)
	}
	_, _, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{key},
		bytes.NewReader(relaymsg.HelloSignedText(h.cfg.Self, session.String(), hello.Time)), bytes.NewReader(hello.Sig), nil)
	if err != nil {
		return fmt.Errorf("relay: hello signature: %w", err)
	}
	return nil
}

// handleTransfer takes one outbound mail from a client: it must open with
// the client's pinned key, its envelope sender must be in the client's
// domains (never an open relay), and it is spooled for MX delivery and
// acknowledged only after fsync.
func (h *Hub) handleTransfer(ctx context.Context, rc HubReceiverConfig, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
	from := iq.From.Bare()
	c := h.byJID[from.String()]
	if c == nil {
		h.log.Warn("transfer refused: not a relay client of this hub", zap.Stringer("from", from))
		return nil, refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "not a relay client of this hub")
	}
	key, _ := c.state()
	if key == nil {
		return nil, refusal(stanza.Wait, stanza.PolicyViolation, "4.7.0", "say hello first")
	}
	lim := rc.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 1 << 20
	}
	tr, err := peermsg.ParseTransfer(p, lim.MaxBytes*4/3+1024)
	if err != nil {
		return nil, refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "malformed transfer")
	}
	log := h.log.With(zap.String("client", c.JID), zap.String("transfer", tr.ID))
	dk := dedupKey(from.String(), tr.ID)
	if !rc.Dedup.Claim(dk) {
		return nil, refusal(stanza.Wait, stanza.ResourceConstraint, "4.3.0", "this transfer is being stored")
	}
	defer rc.Dedup.Release(dk)
	if ack, ok, err := rc.Dedup.Get(dk); err != nil {
		log.Error("duplicate store", zap.Error(err))
		return nil, refusal(stanza.Wait, stanza.InternalServerError, "4.3.0", "duplicate store unavailable")
	} else if ok {
		log.Info("duplicate transfer: answered with the stored ack")
		return xmpp.Tokens(ack.Tokens()...), nil
	}
	env, err := peermsg.Open(tr.Data, peermsg.OpenConfig{Self: h.cfg.Self, Keys: h.cfg.Key, Sender: key,
		Now: h.cfg.Now(), Limits: lim})
	if err != nil {
		return nil, h.openRefusal(err, log)
	}
	if err := h.checkEnvelope(c, tr, env, log); err != nil {
		return nil, err
	}
	raw, err := peer.OpenExternal(ctx, rc.Download, env.Mail, log)
	if err != nil {
		return nil, err
	}
	if !c.take(h.cfg.Now(), len(env.Rcpts)) {
		log.Warn("transfer refused for now: relay client over its hourly recipient limit", zap.Int("limit", c.MaxRecipientsPerHour))
		return nil, refusal(stanza.Wait, stanza.ResourceConstraint, "4.7.0", "relay client over its hourly recipient limit")
	}
	ack, err := h.spool(ctx, rc.Spool, iq.From, env, raw)
	if err != nil {
		log.Error("spool", zap.Error(err))
		return nil, refusal(stanza.Wait, stanza.ResourceConstraint, "4.3.0", "spool unavailable")
	}
	if err := rc.Dedup.Put(dk, ack); err != nil {
		log.Error("transfer stored but not recorded for duplicate suppression", zap.Error(err))
	}
	log.Info("outbound mail from relay client stored", zap.Int("rcpts", len(env.Rcpts)))
	return xmpp.Tokens(ack.Tokens()...), nil
}

func (h *Hub) openRefusal(err error, log *zap.Logger) error {
	switch {
	case errors.Is(err, ox.ErrBadSignature) || errors.Is(err, ox.ErrWrongSigner) || errors.Is(err, ox.ErrUnsigned):
		log.Warn("transfer refused: not signed by the client's pinned key", zap.Error(err))
		return refusal(stanza.Auth, stanza.NotAuthorized, "5.7.1", "signature does not verify with the client's pinned key")
	case errors.Is(err, ox.ErrTooLarge) || errors.Is(err, peermsg.ErrTooLarge):
		return refusal(stanza.Modify, stanza.NotAcceptable, "5.3.4", "transfer over the size limit")
	}
	log.Info("transfer refused: does not open", zap.Error(err))
	return refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "transfer does not open")
}

// checkEnvelope: the hub relays only for the client's own domains.
func (h *Hub) checkEnvelope(c *client, tr *peermsg.Transfer, env *peermsg.Envelope, log *zap.Logger) error {
	switch {
	case env.ID != tr.ID:
		return refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "envelope id differs from the transfer id")
	case !c.holds(env.SenderDomain):
		log.Warn("transfer refused: sender domain not held by the relay client", zap.String("domain", env.SenderDomain))
		return refusal(stanza.Auth, stanza.Forbidden, "5.7.1", "sender domain "+env.SenderDomain+" is not held by this relay client")
	case len(env.Sealed) > 0 || env.Mail == nil:
		return refusal(stanza.Modify, stanza.NotAcceptable, "5.6.0", "the relay link carries the mail for the hub only")
	}
	return nil
}

// spool stores the mail raw for MX delivery (one body, the RFC 5322
// message with our trace field) and returns the ack to send.
func (h *Hub) spool(ctx context.Context, sp Spooler, from jid.JID, env *peermsg.Envelope, raw []byte) (*peermsg.Ack, error) {
	qenv := &queue.Envelope{From: env.MailFrom, EnvID: env.EnvID, Bodies: []queue.Body{{Kind: queue.BodyMessage}}}
	ack := &peermsg.Ack{ID: env.ID}
	for _, r := range env.Rcpts {
		qenv.Recipients = append(qenv.Recipients, queue.Recipient{Addr: r.Addr, Route: h.cfg.OutRoute,
			Notify: r.Notify, ORCPT: r.ORCPT})
		ack.Results = append(ack.Results, peermsg.RcptResult{Addr: r.Addr, Status: peermsg.StatusOK})
	}
	host := h.cfg.Hostname
	if host == "" {
		host = h.cfg.Self
	}
	trace := fmt.Sprintf("Received: from %s\r\n\tby %s with XMPP (urn:passerelle:relay:0) id %s;\r\n\t%s\r\n",
		from.Bare(), host, env.ID, h.cfg.Now().Format(time.RFC1123Z))
	body := append([]byte(trace), raw...)
	if err := sp.Put(ctx, qenv, bytes.NewReader(body)); err != nil {
		return nil, err
	}
	return ack, nil
}
