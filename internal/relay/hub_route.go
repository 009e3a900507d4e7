package relay

import (
	"context"
	"errors"
	"fmt"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/payload"
	"passerelle/bridge/peermsg"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/peer"
)

// hubDecision travels with a client-domain recipient from Rcpt to Seal.
type hubDecision struct {
	c   *client
	key *openpgp.Entity
}

var (
	errClientKeyUnknown = &smtpd.Reject{Code: 451, Enhanced: [3]int{4, 4, 3},
		Msg: "The relay client for this domain has not connected yet, please try again later"}
	errTooLargeRelay = &smtpd.Reject{Code: 552, Enhanced: [3]int{5, 3, 4}, Msg: "Message too large for the relay link"}
	errNotCarried    = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 6, 0}, Msg: "Envelope cannot be carried on the relay link"}
)

// Rcpt implements the forward path's PeerRoute: a recipient in a relay
// client's domain is accepted on the MX listener (the hub is that
// domain's MX) once the hub knows the client's key, which it must have to
// seal the mail before the spool; other recipients go to Next.
func (h *Hub) Rcpt(ctx context.Context, s *smtpd.Info, from, to string) (any, error) {
	c, ok := h.byDomain[domainOf(to)]
	if !ok {
		if h.cfg.Next != nil {
			return h.cfg.Next.Rcpt(ctx, s, from, to)
		}
		return nil, smtpd.RelayDenied
	}
	key, _ := c.state()
	if key == nil {
		h.log.Warn("mail for a relay client whose key is not known yet (it has never said hello)",
			zap.String("client", c.JID), zap.String("rcpt", h.cfg.HashAddr(to)))
		return nil, errClientKeyUnknown
	}
	return &hubDecision{c: c, key: key}, nil
}

// Seal builds one transfer per message per client, sealed to the client's
// key and signed by the hub's: the spool never holds the client's mail in
// the clear. Recipients of other routes go to Next.Seal.
func (h *Hub) Seal(ctx context.Context, env *smtpd.Envelope, raw, inner []byte, rcpts []smtpd.Recipient) ([]queue.Recipient, [][]byte, error) {
	var (
		out    []queue.Recipient
		bodies [][]byte
		others []smtpd.Recipient
		order  []*client
		groups = map[*client][]smtpd.Recipient{}
		keys   = map[*client]*openpgp.Entity{}
	)
	for _, rc := range rcpts {
		d, ok := rc.Route.(*hubDecision)
		if !ok {
			others = append(others, rc)
			continue
		}
		if _, seen := groups[d.c]; !seen {
			order, keys[d.c] = append(order, d.c), d.key
		}
		groups[d.c] = append(groups[d.c], rc)
	}
	for _, c := range order {
		id := queue.NewID()
		ct, err := h.sealFor(ctx, c, keys[c], id, env, raw, groups[c])
		if err != nil {
			return nil, nil, err
		}
		for _, rc := range groups[c] {
			out = append(out, queue.Recipient{Addr: rc.Addr, Route: RouteHub, Body: len(bodies), Notify: rc.Notify,
				ORCPT: orcpt(rc.ORcpt), Params: map[string]string{peer.ParamDomain: c.JID, peer.ParamJID: c.JID,
					peer.ParamID: id, peer.ParamFpr: c.Fingerprint}})
		}
		bodies = append(bodies, ct)
	}
	if len(others) > 0 {
		if h.cfg.Next == nil {
			return nil, nil, errors.New("relay: recipient without a relay decision")
		}
		rs, bs, err := h.cfg.Next.Seal(ctx, env, raw, inner, others)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rs {
			r.Body += len(bodies)
			out = append(out, r)
		}
		bodies = append(bodies, bs...)
	}
	return out, bodies, nil
}

// sealFor seals one transfer to the client: the mail inline, or, when
// that is over the stanza limit, uploaded (encrypted under a fresh key
// that only the sealed envelope carries) for the client to download.
func (h *Hub) sealFor(ctx context.Context, c *client, key *openpgp.Entity, id string, env *smtpd.Envelope, raw []byte, rcpts []smtpd.Recipient) ([]byte, error) {
	e := &peermsg.Envelope{ID: id, MailFrom: env.From, EnvID: env.Params.EnvID, SenderDomain: h.cfg.Hostname,
		Mail: &payload.Mail{Raw: raw}}
	if env.From != "" {
		e.SenderDomain = domainOf(env.From)
	}
	for _, rc := range rcpts {
		e.Rcpts = append(e.Rcpts, peermsg.Rcpt{Addr: rc.Addr, ORCPT: orcpt(rc.ORcpt), Notify: rc.Notify})
	}
	ct, err := h.seal(c, key, e)
	if err != nil || fits(id, ct, h.cfg.MaxStanza) {
		return ct, err
	}
	if h.cfg.Uploader == nil {
		return nil, errTooLargeRelay
	}
	ext, err := peer.UploadExternal(ctx, h.cfg.Uploader, raw, h.log)
	if err != nil {
		return nil, err
	}
	h.log.Info("large mail for a relay client: uploaded", zap.String("client", c.JID), zap.String("transfer", id), zap.Int64("bytes", ext.Size))
	e.Mail = &payload.Mail{External: ext}
	if ct, err = h.seal(c, key, e); err == nil && !fits(id, ct, h.cfg.MaxStanza) {
		return nil, errTooLargeRelay // the envelope alone is over the limit
	}
	return ct, err
}

// fits reports whether a transfer goes in one stanza of at most max bytes.
func fits(id string, ct []byte, max int) bool {
	return (peermsg.Transfer{ID: id, Data: ct}).StanzaSize()+512 <= max
}

func (h *Hub) seal(c *client, key *openpgp.Entity, e *peermsg.Envelope) ([]byte, error) {
	ct, err := peermsg.Seal(peermsg.SealConfig{To: c.JID, Envelope: e, Signer: h.cfg.Key, Peer: key, Time: h.cfg.Now()})
	if errors.Is(err, peermsg.ErrInvalid) {
		h.log.Info("refused: envelope not expressible on the relay link", zap.Error(err))
		return nil, errNotCarried
	}
	if err != nil {
		return nil, fmt.Errorf("relay: seal for %s: %w", c.JID, err)
	}
	return ct, nil
}
