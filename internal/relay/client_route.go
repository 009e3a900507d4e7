package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/payload"
	"passerelle/bridge/peermsg"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/peer"
)

type upDecision struct{}

var (
	errNoHubKey = &smtpd.Reject{Code: 451, Enhanced: [3]int{4, 4, 3},
		Msg: "Not connected to the relay hub yet, please try again later"}
	errForeignSender = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1},
		Msg: "Sender address is not in a domain of this site; the relay sends only for its own domains"}
)

// Rcpt implements the forward path's PeerRoute on the client: every
// recipient outside the local domains goes up to the hub, for mail
// submitted with AUTH (the site's MTA) whose envelope sender is ours.
func (c *Client) Rcpt(_ context.Context, s *smtpd.Info, from, to string) (any, error) {
	if s.Mode != smtpd.ModeSubmission {
		return nil, smtpd.RelayDenied
	}
	if from != "" && !c.cfg.Policy.IsLocal(from) {
		c.log.Info("refused: envelope sender outside the site's domains", zap.String("from", c.cfg.HashAddr(from)))
		return nil, errForeignSender
	}
	if c.key() == nil {
		return nil, errNoHubKey
	}
	return upDecision{}, nil
}

// Seal DKIM-signs the mail for its From domain (when a [[dkim]] key is
// configured for it), seals one transfer to the hub and returns its queue
// recipients.
func (c *Client) Seal(ctx context.Context, env *smtpd.Envelope, raw, _ []byte, rcpts []smtpd.Recipient) ([]queue.Recipient, [][]byte, error) {
	key := c.key()
	if key == nil {
		return nil, nil, errNoHubKey
	}
	signed, err := c.sign(raw)
	if err != nil {
		return nil, nil, err
	}
	id := queue.NewID()
	e := &peermsg.Envelope{ID: id, MailFrom: env.From, EnvID: env.Params.EnvID, SenderDomain: strings.ToLower(c.cfg.Domains[0]),
		Mail: &payload.Mail{Raw: signed}}
	if env.From != "" {
		e.SenderDomain = domainOf(env.From)
	}
	var out []queue.Recipient
	for _, rc := range rcpts {
		if _, ok := rc.Route.(upDecision); !ok {
			return nil, nil, errors.New("relay: recipient without a relay decision")
		}
		e.Rcpts = append(e.Rcpts, peermsg.Rcpt{Addr: rc.Addr, ORCPT: orcpt(rc.ORcpt), Notify: rc.Notify})
		out = append(out, queue.Recipient{Addr: rc.Addr, Route: RouteUp, Notify: rc.Notify, ORCPT: orcpt(rc.ORcpt),
			Params: map[string]string{peer.ParamDomain: c.hub.String(), peer.ParamJID: c.hub.String(),
				peer.ParamID: id, peer.ParamFpr: c.hfp}})
	}
	ct, err := c.seal(key, e)
	if err != nil {
		return nil, nil, err
	}
	if fits(id, ct, c.cfg.MaxStanza) {
		return out, [][]byte{ct}, nil
	}
	if c.cfg.Uploader == nil {
		return nil, nil, errTooLargeRelay
	}
	ext, err := peer.UploadExternal(ctx, c.cfg.Uploader, signed, c.log)
	if err != nil {
		return nil, nil, err
	}
	c.log.Info("large mail for the hub: uploaded", zap.String("transfer", id), zap.Int64("bytes", ext.Size))
	e.Mail = &payload.Mail{External: ext}
	if ct, err = c.seal(key, e); err == nil && !fits(id, ct, c.cfg.MaxStanza) {
		return nil, nil, errTooLargeRelay // the envelope alone is over the limit
	}
	if err != nil {
		return nil, nil, err
	}
	return out, [][]byte{ct}, nil
}

func (c *Client) seal(key *openpgp.Entity, e *peermsg.Envelope) ([]byte, error) {
	ct, err := peermsg.Seal(peermsg.SealConfig{To: c.hub.String(), Envelope: e, Signer: c.cfg.Key, Peer: key, Time: c.cfg.Now()})
	if errors.Is(err, peermsg.ErrInvalid) {
		return nil, errNotCarried
	}
	if err != nil {
		return nil, fmt.Errorf("relay: seal for the hub: %w", err)
	}
	return ct, nil
}

// sign prepends the DKIM signature of the header From's domain.
func (c *Client) sign(raw []byte) ([]byte, error) {
	if c.cfg.DKIM == nil {
		return raw, nil
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return raw, nil // forward already refused what does not parse
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || !strings.Contains(from.Address, "@") {
		return raw, nil
	}
	dom := domainOf(from.Address)
	if !c.cfg.DKIM.Signs(dom) {
		c.log.Warn("no DKIM key for the From domain: sent unsigned", zap.String("domain", dom))
		return raw, nil
	}
	h, err := c.cfg.DKIM.Header(dom, bytes.NewReader(raw))
	if err != nil {
		c.log.Error("dkim", zap.Error(err))
		return nil, smtpd.TemporaryFailure
	}
	return append([]byte(h), raw...), nil
}
