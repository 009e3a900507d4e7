package reverse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/mail"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/payload"
	"passerelle/gateway/compose"
	"passerelle/gateway/queue"
	"passerelle/internal/offheap"
	"passerelle/policy"
)

// process turns one admitted message into spooled mail, then acknowledges
// it; on any refusal the sender gets an error reply and nothing is sent.
func (rv *Reverse) process(ctx context.Context, in *inbound) {
	dup, ref := rv.deliverOnce(ctx, in)
	if ref != nil {
		in.refusal = ref
		rv.replyRefusal(ctx, in)
		return
	}
	if dup {
		rv.log.Info("duplicate suppressed", zap.String("id", in.ID), zap.String("key", in.key),
			rv.hash("from", in.senderJID), rv.hash("rcpt", in.rcpt))
	}
	rv.sendReceipt(ctx, in)
}

// deliverOnce delivers in unless a copy of it was spooled already (dup):
// of two copies processed at once, one waits for the other's outcome. A
// message without any id cannot be recognised and is always delivered.
func (rv *Reverse) deliverOnce(ctx context.Context, in *inbound) (dup bool, ref *refusal) {
	if in.key == "" {
		return false, rv.deliver(ctx, in)
	}
	first, err := rv.dedup.claim(ctx, in.key)
	if err != nil {
		return false, errTryLater
	}
	if !first {
		return true, nil
	}
	spooled := false
	defer func() { // also on panic, or the copies would wait for ever
		if err := rv.dedup.finish(in.key, spooled); err != nil {
			rv.log.Error("dedup record", zap.String("id", in.ID), zap.Error(err))
		}
	}()
	ref = rv.deliver(ctx, in)
	spooled = ref == nil
	return false, ref
}

func (rv *Reverse) deliver(ctx context.Context, in *inbound) *refusal {
	d := rv.cfg.Policy.Decide(in.rcpt)
	p, senderKey, ref := rv.content(ctx, in, d)
	if ref != nil {
		return ref
	}
	if p == nil { // an OMEMO key transport message: nothing to mail
		return nil
	}
	external := p.Mail != nil && p.Mail.External != nil
	switch {
	case external && in.OpenPGP == nil: // the URL, key and hash would be neither secret nor signed
		return refuse(stanza.Modify, stanza.NotAcceptable, "A mail sent as an HTTP upload is accepted only "+
			"inside an OX (XEP-0373) encrypted and signed message: enable OX in your client and send it again.")
	case external && rv.cfg.Fetcher == nil:
		return refuse(stanza.Cancel, stanza.FeatureNotImplemented,
			"This gateway does not accept mail sent as an HTTP upload.")
	}
	rcptKey, ref := rv.recipientKey(ctx, in, d)
	if ref != nil {
		return ref
	}
	if in.OMEMO != nil && in.OpenPGP == nil && rv.cfg.OMEMO != nil { // files sent as aesgcm:// links
		if ref := rv.omemoAttachments(ctx, in, p, d); ref != nil {
			return ref
		}
	}
	freeDownload := func() {}
	if external { // after the cheap refusals: do not download for nothing
		if freeDownload, ref = rv.external(ctx, in, p, d); ref != nil {
			return ref
		}
	}
	msg, free, ref := rv.build(in, p, senderKey, rcptKey, d.MaxMessageBytes)
	p.Mail = nil   // in msg now
	freeDownload() // and a downloaded mail's buffer with it
	if ref != nil {
		return ref
	}
	defer free()
	if int64(len(msg)) > d.MaxMessageBytes {
		return errTooLargeToSend
	}
	return rv.spool(ctx, in, msg, rcptKey != nil)
}

var errTooLargeToSend = refuse(stanza.Modify, stanza.PolicyViolation, "The mail is larger than this gateway sends.")

// offheapMin is the embedded mail's size from which the composed message
// goes into a buffer outside the Go heap (internal/offheap): a large
// mail's copy then neither raises the collector's heap goal nor lingers
// as garbage (DKIM's canonicalisation makes about twice the message in
// small garbage while it is live).
const offheapMin = 1 << 20

// compose writes the message: into the heap, or for a large mail into a
// buffer outside it that free releases (after which msg is unusable).
func (rv *Reverse) compose(ci compose.Input, maxBytes int64) (msg []byte, free func(), err error) {
	if len(ci.Embedded) < offheapMin || maxBytes <= 0 {
		msg, err = compose.Compose(ci)
		return msg, func() {}, err
	}
	buf := offheap.New(int(maxBytes) + 1) // +1: over the limit is refused after
	if err := compose.ComposeTo(buf, ci); err != nil {
		buf.Free()
		return nil, func() {}, err
	}
	return buf.Bytes(), buf.Free, nil
}

// recipientKey finds the mail recipient's key. nil without a refusal
// means plaintext, which policy allowed.
func (rv *Reverse) recipientKey(ctx context.Context, in *inbound, d policy.Decision) (*openpgp.Entity, *refusal) {
	if d.Encryption == policy.EncryptNone && d.ReversePlaintext {
		return nil, nil
	}
	res, err := rv.cfg.RecipientKeys.Resolve(ctx, in.rcpt)
	switch {
	case err == nil:
		return res.Key, nil
	case !errors.Is(err, keys.ErrNoKey):
		rv.log.Warn("recipient key lookup failed", rv.hash("rcpt", in.rcpt), zap.Error(err))
		return nil, errTryLater
	case d.ReversePlaintext:
		return nil, nil
	}
	rv.log.Info("refused: recipient has no key", rv.hash("rcpt", in.rcpt), zap.String("rule", d.Source["reverse_plaintext"]))
	return nil, refuse(stanza.Modify, stanza.NotAcceptable, in.rcpt+" has no published OpenPGP key "+
		"and this gateway's policy forbids sending unencrypted mail to it; nothing was sent.")
}

// build composes the mail, encrypted when rcptKey is set; call free when
// done with msg.
func (rv *Reverse) build(in *inbound, p *payload.Payload, senderKey, rcptKey *openpgp.Entity, maxBytes int64) (msg []byte, free func(), ref *refusal) {
	free = func() {}
	ci := compose.Input{From: mail.Address{Address: in.sender}, To: []mail.Address{{Address: in.rcpt}},
		Subject: p.Subject, Text: p.Body, Thread: p.Thread, Hostname: rv.cfg.Hostname,
		AutocryptKey: senderKey, Limits: rv.cfg.Compose}
	if p.Mail != nil {
		ci.Embedded = p.Mail.Raw
	}
	if p.Mail == nil || p.Mail.InReplyTo == "" {
		ci.InReplyTo, ci.References = rv.threading(in, p.Thread)
	}
	msg, free, err := rv.compose(ci, maxBytes)
	switch {
	case errors.Is(err, offheap.ErrFull):
		return nil, free, errTooLargeToSend
	case err != nil:
		rv.log.Info("mail not composed", zap.String("id", in.ID), zap.Error(err))
		return nil, free, composeRefusal(err)
	}
	if rcptKey == nil {
		return msg, free, nil
	}
	defer free() // the encrypted copy is what is sent
	signer, err := rv.cfg.Keys.DomainKey()
	if err != nil {
		rv.log.Error("domain key", zap.Error(err))
		return nil, func() {}, errTryLater
	}
	enc, err := compose.EncryptPGPMIME(msg, signer, []*openpgp.Entity{rcptKey}, compose.EncryptOptions{OnBehalf: true})
	if err != nil {
		rv.log.Warn("PGP/MIME encryption failed", rv.hash("rcpt", in.rcpt), zap.Error(err))
		return nil, func() {}, refuse(stanza.Cancel, stanza.NotAcceptable, "The recipient's OpenPGP key cannot be used.")
	}
	return enc, func() {}, nil
}

func composeRefusal(err error) *refusal {
	switch {
	case errors.Is(err, compose.ErrTooLarge):
		return refuse(stanza.Modify, stanza.PolicyViolation, "The attached mail is over this gateway's limits.")
	case errors.Is(err, compose.ErrMalformed):
		return refuse(stanza.Modify, stanza.BadRequest, "The attached mail is malformed.")
	}
	return refuse(stanza.Modify, stanza.BadRequest, "The gateway cannot make a mail of this message.")
}

// threading maps the XMPP thread to the mail replied to: the forwarded
// mail recorded for that thread, or else, when the message has no thread,
// the last mail from this correspondent to the sender.
func (rv *Reverse) threading(in *inbound, thread string) (string, []string) {
	if rv.cfg.Threads == nil {
		return "", nil
	}
	e, ok := Entry{}, false
	if thread != "" {
		e, ok = rv.cfg.Threads.ByThread(thread)
	} else {
		e, ok = rv.cfg.Threads.Last(in.To.Bare().String(), in.senderJID)
	}
	if !ok || e.MessageID == "" {
		return "", nil
	}
	return e.MessageID, append(append([]string(nil), e.References...), e.MessageID)
}

// spool DKIM-signs the mail and puts it in the queue for the SMTP target.
func (rv *Reverse) spool(ctx context.Context, in *inbound, msg []byte, encrypted bool) *refusal {
	domain := in.sender[strings.LastIndexByte(in.sender, '@')+1:]
	sig := ""
	if rv.cfg.DKIM != nil && rv.cfg.DKIM.Signs(domain) {
		var err error
		if sig, err = rv.cfg.DKIM.Header(domain, bytes.NewReader(msg)); err != nil {
			rv.log.Error("dkim", zap.String("domain", domain), zap.Error(err))
			return errTryLater
		}
	}
	params := map[string]string{ParamSender: in.From.String(), ParamSenderBare: in.senderJID,
		ParamPuppet: in.To.Bare().String()}
	if in.key != "" {
		params[ParamDedup] = in.key
	}
	env := &queue.Envelope{From: in.sender, Bodies: []queue.Body{{Kind: queue.BodyMessage}},
		Recipients: []queue.Recipient{{Addr: in.rcpt, Route: RouteSMTP, ORCPT: "rfc822;" + in.rcpt, Params: params}}}
	if err := rv.cfg.Spool.Put(ctx, env, io.MultiReader(strings.NewReader(sig), bytes.NewReader(msg))); err != nil {
		rv.log.Error("spool", zap.String("id", in.ID), zap.Error(err))
		return errTryLater
	}
	if !encrypted {
		rv.cfg.Metrics.Plaintext("reverse")
	}
	rv.log.Info("queued", zap.String("id", env.ID), zap.String("stanza", in.ID), rv.hash("from", in.sender),
		rv.hash("rcpt", in.rcpt), zap.Bool("encrypted", encrypted), zap.Int("bytes", len(sig)+len(msg)))
	return nil
}
