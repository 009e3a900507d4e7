package reverse

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
)

// NoticeTarget delivers DSNs addressed to local XMPP users: for each failed
// recipient of the report it sends the user a chat message from that
// recipient's puppet JID saying why the mail did not arrive. It implements
// queue.Target; register it as RouteNotice and route local bounce
// addresses to it with ParamJID set.
//
// A notice names the correspondent and quotes the remote server's reply,
// so it travels like any mail to that user: OX-encrypted to the user's
// key (found as for forwarded mail; a user who sent OX has one) and
// signed by the puppet key (XEP-0373/0374). Without a usable key it goes
// in clear only where policy lets mail to the user travel in clear;
// otherwise the user still learns that a message failed, from the
// component, without the correspondent or the reply.
type NoticeTarget struct {
	Sender          Sender
	ComponentDomain string
	// Keys finds the user's published key: the resolver of the forward
	// path (keyring, PEP). Signer holds the puppet keys that sign. nil
	// Keys: no user has a key.
	Keys   KeyResolver
	Signer KeyStore
	// Plaintext reports whether mail to the local address may travel in
	// clear (policy encryption = "none" or no_key = "notice"); nil: never.
	Plaintext func(addr string) bool
	LinkRetry time.Duration // retry delay while the link is down; 0: 30s
	Now       func() time.Time
	Log       *zap.Logger
}

// Deliver implements queue.Target.
func (t *NoticeTarget) Deliver(ctx context.Context, d *queue.Delivery) error {
	to, err := jid.Parse(d.Recipient.Params[ParamJID])
	if err != nil || to.Localpart() == "" {
		return queue.Permanent(fmt.Errorf("reverse: notice without a valid %s parameter", ParamJID))
	}
	if !t.Sender.Connected() {
		return queue.RetryAfter(xmpp.ErrNotConnected, t.linkRetry())
	}
	raw, err := readAll(ctx, d, maxDSNBytes)
	if err != nil {
		return err
	}
	rcpts, err := ParseDSN(raw)
	if err != nil {
		return queue.Permanent(fmt.Errorf("reverse: notice: %w", err))
	}
	key, err := t.userKey(ctx, d.Recipient.Addr)
	if err != nil {
		return err // temporary: the queue retries
	}
	inClear := key == nil && t.Plaintext != nil && t.Plaintext(d.Recipient.Addr)
	failed := 0
	for i, r := range rcpts {
		if r.Action != "" && r.Action != "failed" && r.Action != "delayed" {
			continue
		}
		failed++
		if key == nil && !inClear {
			continue // one neutral notice below
		}
		m := xmpp.Message{ID: d.ID + "-" + strconv.Itoa(i), From: t.from(r.FinalRecipient), To: to,
			Type: stanza.ChatMessage, Payload: bodyTokens(NoticeText(r))}
		if key != nil {
			if m.Payload, err = t.sealed(ctx, m.From, to, key, r); err != nil {
				return err
			}
		}
		if err := t.Sender.Send(ctx, m); err != nil {
			return t.classify(err)
		}
	}
	if key == nil && !inClear && failed > 0 {
		m := xmpp.Message{ID: d.ID + "-n", From: t.from(""), To: to, Type: stanza.ChatMessage,
			Payload: bodyTokens(neutralNotice(failed))}
		if err := t.Sender.Send(ctx, m); err != nil {
			return t.classify(err)
		}
	}
	return nil
}

// userKey is the user's published key, nil if there is none; a lookup
// that may succeed later is an error.
func (t *NoticeTarget) userKey(ctx context.Context, addr string) (*openpgp.Entity, error) {
	if t.Keys == nil || t.Signer == nil {
		return nil, nil
	}
	res, err := t.Keys.Resolve(ctx, addr)
	switch {
	case err == nil && res.Key != nil:
		return res.Key, nil
	case err == nil, errors.Is(err, keys.ErrNoKey), errors.Is(err, keys.ErrInvalidKey), !keys.IsTemporary(err):
		return nil, nil
	}
	return nil, fmt.Errorf("reverse: notice: the user's key: %w", err)
}

// noticeOX is what a client without OX shows instead of an encrypted notice.
const noticeOX = "A delivery notice from Passerelle, end-to-end encrypted with OpenPGP for XMPP " +
	"(XEP-0373). Use an OX-capable client (e.g. Gajim, Profanity) to read it."

// sealed is the notice for r as an XEP-0374 signcrypt from from (signed by
// its puppet key, or the domain key for the component) to key.
func (t *NoticeTarget) sealed(ctx context.Context, from, to jid.JID, key *openpgp.Entity, r DSNRecipient) (xml.TokenReader, error) {
	signer, err := t.signer(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("reverse: notice signing key: %w", err)
	}
	subject := "Undelivered mail"
	if r.Action == "delayed" {
		subject = "Delayed mail"
	}
	inner, err := payload.BuildInner(&payload.Payload{Subject: subject, Body: NoticeText(r)})
	if err != nil {
		return nil, queue.Permanent(fmt.Errorf("reverse: notice payload: %w", err))
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	ct, err := ox.Seal(ox.SealConfig{To: to.Bare().String(), Payload: inner, PayloadEncoded: true, Signer: signer,
		Recipients: []*openpgp.Entity{key}, Time: now()})
	if err != nil {
		return nil, fmt.Errorf("reverse: seal notice: %w", err)
	}
	body := xml.StartElement{Name: xml.Name{Local: "body"}}
	open := xml.StartElement{Name: xml.Name{Space: ox.NS, Local: "openpgp"}}
	store := xml.StartElement{Name: xml.Name{Space: "urn:xmpp:hints", Local: "store"}}
	eme := xml.StartElement{Name: xml.Name{Space: "urn:xmpp:eme:0", Local: "encryption"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "namespace"}, Value: ox.NS}}}
	return xmpp.Tokens(body, xml.CharData(noticeOX), body.End(),
		open, xml.CharData(base64.StdEncoding.EncodeToString(ct)), open.End(),
		store, store.End(), eme, eme.End()), nil
}

func (t *NoticeTarget) signer(ctx context.Context, from jid.JID) (*openpgp.Entity, error) {
	if from.Localpart() == "" {
		return t.Signer.DomainKey()
	}
	return t.Signer.PuppetKey(ctx, from.String())
}

// neutralNotice tells a user without a key that mail failed, naming
// neither the correspondent nor the remote server's reply.
func neutralNotice(n int) string {
	what := "A message you sent by email through this gateway"
	if n > 1 {
		what = strconv.Itoa(n) + " recipients of a message you sent by email through this gateway"
	}
	return what + " could not be reached (or the delivery is delayed). The details (to whom, and why) " +
		"are not shown because your account publishes no OpenPGP key for XMPP (XEP-0373) to encrypt them to. " +
		"Publish one (e.g. with Gajim's OpenPGP plugin) to receive the details."
}

// NoticeText is the human text for one failed recipient.
func NoticeText(r DSNRecipient) string {
	verb := "could not be delivered"
	if r.Action == "delayed" {
		verb = "is delayed"
	}
	s := fmt.Sprintf("Your message to %s %s", r.FinalRecipient, verb)
	switch {
	case r.Diagnostic != "":
		s += ": " + r.Diagnostic
	case r.Status != "":
		s += " (status " + r.Status + ")"
	}
	if r.RemoteMTA != "" {
		s += " (reported by " + r.RemoteMTA + ")"
	}
	return s + "."
}

// from is the failed recipient's puppet JID, or the component itself.
func (t *NoticeTarget) from(addr string) jid.JID {
	if p, err := jidesc.PuppetJID(addr, t.ComponentDomain); err == nil {
		return p
	}
	d, _ := jid.New("", t.ComponentDomain, "")
	return d
}

func (t *NoticeTarget) linkRetry() time.Duration {
	if t.LinkRetry <= 0 {
		return 30 * time.Second
	}
	return t.LinkRetry
}

// classify makes a bounce that cannot change permanent (the queue then
// drops the DSN: never a DSN about a DSN) and link trouble temporary.
func (t *NoticeTarget) classify(err error) error {
	var xe *xmpp.Error
	if errors.As(err, &xe) && !xe.Temporary() {
		return queue.Permanent(err)
	}
	if errors.Is(err, xmpp.ErrNotConnected) || errors.Is(err, xmpp.ErrLinkLost) {
		return queue.RetryAfter(err, t.linkRetry())
	}
	return err
}

func readAll(ctx context.Context, d *queue.Delivery, max int64) ([]byte, error) {
	rc, err := d.OpenBody(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err // ErrDamaged passes through: the queue quarantines
	}
	if int64(len(b)) > max {
		return nil, queue.Permanent(fmt.Errorf("reverse: DSN over %d bytes", max))
	}
	return b, nil
}

// bodyTokens is a <body/> with text, in the stanza's namespace.
func bodyTokens(text string) xml.TokenReader {
	start := xml.StartElement{Name: xml.Name{Local: "body"}}
	return xmpp.Tokens(start, xml.CharData(strings.ToValidUTF8(text, "?")), start.End())
}
