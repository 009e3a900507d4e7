package forward

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/gateway/authres"
	"passerelle/gateway/mime"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
)

// Recipient parameters stored with each queued recipient.
const (
	ParamJID      = "jid"       // recipient bare JID
	ParamFrom     = "from"      // puppet JID of the sender
	ParamOriginID = "origin-id" // XEP-0359 origin-id and stanza id, fixed across retries
	ParamEnc      = "enc"       // "ox" (body is a signcrypt), "omemo" (an <encrypted/>) or "none" (body is the mail)
	// ParamUnverified, on plaintext recipients, is the sender address whose
	// warning the stanza's text starts with; absent: the sender was verified.
	ParamUnverified = "unverified"
)

// errPlainTooLargeReply refuses, at end of DATA, a mail that would have to
// travel in the clear (a recipient without a key, where policy allows
// plaintext) and does not fit one stanza whole: the plaintext route never
// drops attachments or HTML, and never uploads plaintext.
var errPlainTooLargeReply = &smtpd.Reject{Code: 552, Enhanced: [3]int{5, 3, 4},
	Msg: "Message too large to deliver unencrypted over XMPP; the recipient has no encryption key"}

var errMalformed = &smtpd.Reject{Code: 554, Enhanced: [3]int{5, 6, 0}, Msg: "Malformed MIME message"}

// Accept implements smtpd.Sink: it seals one signcrypt per encrypted
// recipient and spools the ciphertext; the spool never holds plaintext for a
// recipient with a key. It returns only after queue.Put has made the message
// durable.
func (f *Forward) Accept(ctx context.Context, env *smtpd.Envelope, data []byte) error {
	data, auth, err := f.authenticate(ctx, env, data)
	if err != nil {
		return err
	}
	return f.accept(ctx, env, data, auth)
}

// AcceptPeer is Accept for mail another Passerelle site handed over
// (internal/peer): the peer route verified that gateway (its signature,
// the record of senderDomain naming it), which stands in for DKIM: mail
// whose From is in senderDomain is not marked as unverified; other mail is.
func (f *Forward) AcceptPeer(ctx context.Context, env *smtpd.Envelope, data []byte, gateway, senderDomain string) error {
	stripped := authres.StripOwn(data, f.cfg.Hostname)
	field := fmt.Sprintf("Authentication-Results: %s; x-passerelle-peer=pass (gateway %s) smtp.mailfrom=%s\r\n",
		f.cfg.Hostname, gateway, senderDomain)
	return f.accept(ctx, env, stripped, authentication{field: field, peerDomain: senderDomain})
}

func (f *Forward) accept(ctx context.Context, env *smtpd.Envelope, data []byte, auth authentication) error {
	raw := env.Prepend(data, auth.field, env.Received) // no copy of the message (H4)
	m, err := mime.Parse(raw, f.cfg.MIMELimits)
	if err != nil {
		f.log.Info("refused malformed message", zap.String("sid", env.Session.ID), zap.Error(err))
		return mimeReject(err)
	}
	sender := senderAddress(m, env.From, f.cfg.Hostname)
	puppet, err := jidesc.PuppetJID(sender, f.cfg.ComponentDomain)
	if err != nil {
		sender = "mailer-daemon@" + f.cfg.Hostname
		if puppet, err = jidesc.PuppetJID(sender, f.cfg.ComponentDomain); err != nil {
			return wrap("puppet JID", err)
		}
	}
	if auth.peerDomain != "" {
		auth.mark = !strings.EqualFold(sender[strings.LastIndexByte(sender, '@')+1:], auth.peerDomain)
	}
	if env.Session.AuthUser != "" {
		vouched, err := f.bindSender(env, m, data, sender)
		if err != nil {
			return err
		}
		auth.mark = !vouched
	}
	p := payloadFor(m, raw)
	if auth.mark {
		p.Body = unverifiedNotice(sender) + p.Body
	}
	var omemoText []byte
	if hasOMEMO(env) { // before external, which shortens p.Body
		if omemoText, err = f.omemoText(ctx, m, p, raw); err != nil {
			return err
		}
	}
	var inner []byte
	if hasKeyed(env) && !f.fits(base64Len(len(raw))) {
		// The mail's base64 alone is over the stanza limit: it goes by
		// upload, and the payload with it inline is never built (for a
		// 25 MB mail that was 35 MB of base64 and as much again of XML).
		if inner, err = f.external(ctx, p, raw); err != nil {
			return err
		}
	} else {
		if inner, err = payload.BuildInner(p); err != nil {
			f.log.Info("refused message that cannot be carried in XML", zap.String("sid", env.Session.ID), zap.Error(err))
			return errMalformed
		}
		if hasKeyed(env) && !f.fits(len(inner)) {
			if inner, err = f.external(ctx, p, raw); err != nil {
				return err
			}
		}
	}
	unverified := ""
	if auth.mark {
		unverified = sender
	}
	if hasPlain(env) {
		if _, err := plainChildren(m, raw, newOriginID(), f.cfg.MaxStanzaBytes, unverified); err != nil {
			f.log.Info("refused: too large for the plaintext route", zap.String("sid", env.Session.ID),
				zap.Int("bytes", len(raw)), zap.Error(err))
			return errPlainTooLargeReply
		}
	}
	qenv, bodies, err := f.seal(ctx, env, raw, inner, omemoText, puppet.String(), unverified)
	if err != nil {
		return err
	}
	tagRecipients(env, qenv)
	if err := f.cfg.Spool.Put(ctx, qenv, bodies...); err != nil {
		f.log.Error("spool", zap.String("sid", env.Session.ID), zap.Error(err))
		if errors.Is(err, queue.ErrSpoolFull) {
			return smtpd.StorageFull
		}
		return smtpd.TemporaryFailure
	}
	f.log.Info("queued", zap.String("sid", env.Session.ID), zap.String("id", qenv.ID),
		zap.Int("rcpts", len(qenv.Recipients)), zap.Int("bytes", len(raw)))
	f.recordThread(ctx, m, qenv, puppet.String())
	if auth.learn {
		f.learnAutocrypt(ctx, m, data)
	} else if f.cfg.Autocrypt != nil {
		// A From that was not verified (or came from a submission user)
		// must not plant a key that the reverse path would then encrypt
		// replies to.
		f.log.Info("autocrypt not learned: sender not verified", zap.String("sid", env.Session.ID))
	}
	return nil
}

// recordThread tells the thread store (if any) about the accepted mail, so
// that a reply from each recipient threads in the sender's mail client.
func (f *Forward) recordThread(ctx context.Context, m *mime.Message, qenv *queue.Envelope, puppet string) {
	if f.cfg.Threads == nil || m.MessageID == "" {
		return
	}
	refs := m.References
	if len(refs) == 0 {
		refs = m.InReplyTo
	}
	thread := threadID(m)
	for _, r := range qenv.Recipients {
		if r.Route != RouteXMPP {
			continue // the local MTA and peer gateways thread by headers
		}
		if err := f.cfg.Threads.Record(ctx, puppet, r.Params[ParamJID], thread, m.MessageID, refs); err != nil {
			f.log.Warn("thread not recorded", zap.String("id", qenv.ID), zap.Error(err))
			return
		}
	}
}

// seal builds the queue envelope and its bodies: a signcrypt per encrypted
// recipient, and one shared copy of the mail for plaintext recipients.
func (f *Forward) seal(ctx context.Context, env *smtpd.Envelope, raw, inner, omemoText []byte, puppet, unverified string) (*queue.Envelope, []io.Reader, error) {
	qenv := &queue.Envelope{From: env.From, EnvID: env.Params.EnvID}
	var bodies []io.Reader
	var signer *openpgp.Entity
	var peers []smtpd.Recipient
	plain := -1
	plainBody := func() int {
		if plain < 0 {
			plain = len(bodies)
			bodies = append(bodies, bytes.NewReader(raw))
			qenv.Bodies = append(qenv.Bodies, queue.Body{Kind: queue.BodyMessage})
		}
		return plain
	}
	for _, r := range env.Recipients {
		route := r.Route
		if tg, ok := route.(Tagged); ok {
			route = tg.Route
		}
		dec, ok := route.(*decision)
		if !ok && f.cfg.Peer != nil {
			r.Route = route
			peers = append(peers, r) // the peer route's own decision
			continue
		}
		if !ok {
			return nil, nil, wrap("seal", errors.New("recipient without a route decision"))
		}
		if dec.MTA {
			qenv.Recipients = append(qenv.Recipients, queue.Recipient{Addr: r.Addr, Route: f.cfg.LocalMTARoute,
				Notify: r.Notify, ORCPT: orcpt(r.ORcpt), Body: plainBody()})
			continue
		}
		qr := queue.Recipient{Addr: r.Addr, Route: RouteXMPP, Notify: r.Notify, ORCPT: orcpt(r.ORcpt),
			Params: map[string]string{ParamJID: dec.JID, ParamFrom: puppet, ParamOriginID: newOriginID()}}
		if len(dec.OMEMO) > 0 {
			x, err := f.sealOMEMO(ctx, dec, puppet, omemoText)
			if err != nil {
				return nil, nil, err
			}
			qr.Body, qr.Params[ParamEnc] = len(bodies), "omemo"
			bodies = append(bodies, bytes.NewReader(x))
			qenv.Bodies = append(qenv.Bodies, queue.Body{Kind: queue.BodyOpaque})
			qenv.Recipients = append(qenv.Recipients, qr)
			continue
		}
		if dec.Key == nil {
			qr.Body, qr.Params[ParamEnc] = plainBody(), "none"
			if unverified != "" {
				qr.Params[ParamUnverified] = unverified
			}
			qenv.Recipients = append(qenv.Recipients, qr)
			continue
		}
		if signer == nil {
			var err error
			if signer, err = f.cfg.Puppets.PuppetKey(ctx, puppet); err != nil {
				f.log.Error("puppet key", zap.Error(err))
				return nil, nil, smtpd.TemporaryFailure
			}
		}
		ct, err := ox.Seal(ox.SealConfig{To: dec.JID, Payload: inner, Signer: signer,
			Recipients: []*openpgp.Entity{dec.Key}, Time: f.cfg.Now(), PayloadEncoded: true})
		if err != nil {
			f.log.Error("seal", f.hash(r.Addr), zap.Error(err))
			return nil, nil, smtpd.TemporaryFailure
		}
		if stanzaSize(len(ct)) > f.cfg.MaxStanzaBytes {
			return nil, nil, &smtpd.Reject{Code: 552, Enhanced: [3]int{5, 3, 4},
				Msg: "Message too large for the XMPP route"}
		}
		qr.Body, qr.Params[ParamEnc] = len(bodies), "ox"
		bodies = append(bodies, bytes.NewReader(ct))
		qenv.Bodies = append(qenv.Bodies, queue.Body{Kind: queue.BodyOpaque})
		qenv.Recipients = append(qenv.Recipients, qr)
	}
	if len(peers) > 0 {
		rs, bs, err := f.cfg.Peer.Seal(ctx, env, raw, inner, peers)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rs {
			r.Body += len(bodies)
			qenv.Recipients = append(qenv.Recipients, r)
		}
		for _, b := range bs {
			bodies = append(bodies, bytes.NewReader(b))
			qenv.Bodies = append(qenv.Bodies, queue.Body{Kind: queue.BodyOpaque})
		}
	}
	return qenv, bodies, nil
}

// hasPlain reports whether a recipient gets the mail in the clear over
// XMPP (no key; not the local-MTA route).
func hasPlain(env *smtpd.Envelope) bool {
	for _, r := range env.Recipients {
		if d, ok := decisionOf(r.Route); ok && d.plain() {
			return true
		}
	}
	return false
}

// hasOMEMO reports whether a recipient gets the mail over OMEMO.
func hasOMEMO(env *smtpd.Envelope) bool {
	for _, r := range env.Recipients {
		if d, ok := decisionOf(r.Route); ok && len(d.OMEMO) > 0 {
			return true
		}
	}
	return false
}

// Tagged wraps a route decision from Rcpt with parameters to store with
// the queued recipient, e.g. the peer transfer it came in (so that a
// restart can tell the transfer was stored).
type Tagged struct {
	Route  any
	Params map[string]string
}

// decisionOf unwraps Rcpt's decision.
func decisionOf(route any) (*decision, bool) {
	if tg, ok := route.(Tagged); ok {
		route = tg.Route
	}
	d, ok := route.(*decision)
	return d, ok
}

// tagRecipients adds each Tagged recipient's parameters to its queued
// recipient.
func tagRecipients(env *smtpd.Envelope, qenv *queue.Envelope) {
	tags := map[string]map[string]string{}
	for _, r := range env.Recipients {
		if tg, ok := r.Route.(Tagged); ok {
			tags[strings.ToLower(r.Addr)] = tg.Params
		}
	}
	for i := range qenv.Recipients {
		t := tags[strings.ToLower(qenv.Recipients[i].Addr)]
		if len(t) == 0 {
			continue
		}
		if qenv.Recipients[i].Params == nil {
			qenv.Recipients[i].Params = map[string]string{}
		}
		for k, v := range t {
			qenv.Recipients[i].Params[k] = v
		}
	}
}

func hasKeyed(env *smtpd.Envelope) bool {
	for _, r := range env.Recipients {
		if d, ok := decisionOf(r.Route); ok && d.Key != nil {
			return true
		}
	}
	return false
}

// base64Len is the length of n bytes in base64: the least a payload
// carrying an n-byte mail inline takes.
func base64Len(n int) int { return (n + 2) / 3 * 4 }

// stanzaSize estimates the stanza for a ciphertext of n bytes: base64 plus
// the envelope elements and the notice.
func stanzaSize(n int) int { return (n+2)/3*4 + 2048 }

func mimeReject(err error) error {
	switch {
	case errors.Is(err, mime.ErrTooDeep):
		return &smtpd.Reject{Code: 554, Enhanced: [3]int{5, 6, 0}, Msg: "MIME structure nested too deeply"}
	case errors.Is(err, mime.ErrTooManyParts):
		return &smtpd.Reject{Code: 554, Enhanced: [3]int{5, 6, 0}, Msg: "Too many MIME parts"}
	case errors.Is(err, mime.ErrHeaderTooBig):
		return &smtpd.Reject{Code: 552, Enhanced: [3]int{5, 6, 0}, Msg: "Message header too large"}
	}
	return errMalformed
}

// senderAddress is the address the recipient sees and replies to: the first
// From address, else the envelope sender, else the gateway's mailer-daemon.
func senderAddress(m *mime.Message, envFrom, hostname string) string {
	if len(m.From) > 0 && strings.Contains(m.From[0].Addr, "@") {
		return m.From[0].Addr
	}
	if envFrom != "" {
		return envFrom
	}
	return "mailer-daemon@" + hostname
}

func payloadFor(m *mime.Message, raw []byte) *payload.Payload {
	text := m.Text
	if s := m.AttachmentSummary(); s != "" {
		text = strings.TrimRight(text, "\n") + "\n\n[" + s + "]"
	}
	p := &payload.Payload{Subject: m.Subject, Body: text, Thread: threadID(m),
		Mail: &payload.Mail{Raw: raw, MessageID: m.MessageID}}
	if len(m.InReplyTo) > 0 {
		p.Mail.InReplyTo = m.InReplyTo[0]
	}
	return p
}

// threadID derives an opaque XEP-0201 thread id from the conversation's root
// message id, so every mail of one conversation shares it.
func threadID(m *mime.Message) string {
	root := m.MessageID
	if len(m.References) > 0 {
		root = m.References[0]
	} else if len(m.InReplyTo) > 0 {
		root = m.InReplyTo[0]
	}
	if root == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("passerelle-thread\x00" + root))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

func orcpt(a string) string {
	if a == "" || strings.Contains(a, ";") {
		return a
	}
	return "rfc822;" + a
}

func newOriginID() string {
	var b [15]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}
