package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/payload"
	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/internal/peer"
)

// HubTargets returns the queue targets of the hub: RouteHub sends the
// sealed transfers (peer.Target: acked end to end by the client, retried
// with the same id) and also DSNs for the clients' senders, which it
// seals to the client at delivery.
func (h *Hub) HubTargets(iq peer.IQer, retry time.Duration) (queue.Target, error) {
	t, err := peer.NewTarget(peer.TargetConfig{Peers: h, IQ: &sessionIQ{iq: iq, hub: h}, Retry: retry, Log: h.cfg.Log})
	if err != nil {
		return nil, err
	}
	return &hubTarget{h: h, sealed: t}, nil
}

type hubTarget struct {
	h      *Hub
	sealed *peer.Target
}

// Deliver implements queue.Target.
func (t *hubTarget) Deliver(ctx context.Context, d *queue.Delivery) error {
	if d.Body.Kind == queue.BodyOpaque {
		return t.sealed.Deliver(ctx, d)
	}
	return t.deliverPlain(ctx, d)
}

// deliverPlain seals a plain message the hub itself spooled for a client
// sender (a DSN about its outbound mail) and sends it like a transfer.
func (t *hubTarget) deliverPlain(ctx context.Context, d *queue.Delivery) error {
	owner, ok := t.h.Owner(d.Recipient.Addr)
	if !ok {
		return queue.Permanent(fmt.Errorf("relay: %s is in no relay client's domain", d.Recipient.Addr))
	}
	c := t.h.byJID[owner]
	key, _ := c.state()
	if key == nil {
		return queue.RetryAfter(fmt.Errorf("relay: key of %s not known yet", owner), time.Minute)
	}
	rc, err := d.OpenBody(ctx)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, int64(t.h.cfg.MaxStanza)))
	rc.Close()
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(d.ID + "\x00" + d.Recipient.Addr))
	id := "dsn." + hex.EncodeToString(sum[:12])
	e := &peermsg.Envelope{ID: id, MailFrom: d.From, EnvID: d.EnvID, SenderDomain: t.h.cfg.Hostname,
		Rcpts: []peermsg.Rcpt{{Addr: d.Recipient.Addr, ORCPT: d.Recipient.ORCPT, Notify: d.Recipient.Notify}},
		Mail:  &payload.Mail{Raw: raw}}
	if d.From != "" {
		e.SenderDomain = domainOf(d.From)
	}
	ct, err := t.h.seal(c, key, e)
	if err != nil {
		return queue.Permanent(err)
	}
	d2 := *d
	d2.Body = queue.Body{Kind: queue.BodyOpaque, Size: int64(len(ct))}
	d2.Recipient.Params = map[string]string{peer.ParamDomain: c.JID, peer.ParamJID: c.JID, peer.ParamID: id,
		peer.ParamFpr: c.Fingerprint}
	d2.Open = func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(ct)), nil }
	return t.sealed.Deliver(ctx, &d2)
}

// sessionIQ sends transfers to a client's session. The XMPP server answers
// an IQ to a session that no longer exists itself (RFC 6121 §8.5.3.2.1:
// service-unavailable), which the peer route would take as a permanent
// refusal: here it means the client went away, so it is temporary and the
// session is forgotten until the next hello. A refusal by the client
// itself carries an RFC 3463 status in its text.
type sessionIQ struct {
	iq  peer.IQer
	hub *Hub
}

// An ack must carry the client's signature (Client.SignAcks): a session
// that answers without it (someone logged in with the account's password
// but without the key) is forgotten, and the mail stays queued.
func (s *sessionIQ) IQ(ctx context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
	r, err := s.iq.IQ(ctx, iq, p)
	var xe *xmpp.Error
	if err != nil && errors.As(err, &xe) {
		if _, fromClient := peermsg.StatusOf(xe.Text); !fromClient {
			s.hub.gone(iq.To)
			return nil, fmt.Errorf("relay: client session %s unreachable: %v", iq.To, err) // no %w: temporary
		}
	}
	if err != nil || iq.Type != stanza.SetIQ {
		return r, err
	}
	toks, err := collectTokens(r)
	if err != nil {
		return nil, err
	}
	c := s.hub.byJID[iq.To.Bare().String()]
	var key *openpgp.Entity
	if c != nil {
		key, _ = c.state()
	}
	if key == nil {
		return nil, fmt.Errorf("relay: no key to check the ack of %s", iq.To)
	}
	if err := verifyAck(s.hub.cfg.Self, key, toks); err != nil {
		s.hub.log.Warn("ack without a valid signature by the client's key: session forgotten, mail kept",
			zap.Stringer("session", iq.To), zap.Error(err))
		s.hub.gone(iq.To)
		return nil, fmt.Errorf("relay: session %s: %v", iq.To, err)
	}
	return xmpp.Tokens(toks...), nil
}
