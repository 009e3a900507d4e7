package reverse

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
)

// NoticeTarget delivers DSNs addressed to local XMPP users: for each failed
// recipient of the report it sends the user a chat message from that
// recipient's puppet JID saying why the mail did not arrive. It implements
// queue.Target; register it as RouteNotice and route local bounce
// addresses to it with ParamJID set.
type NoticeTarget struct {
	Sender          Sender
	ComponentDomain string
	LinkRetry       time.Duration // retry delay while the link is down; 0: 30s
	Log             *zap.Logger
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
	for i, r := range rcpts {
		if r.Action != "" && r.Action != "failed" && r.Action != "delayed" {
			continue
		}
		m := xmpp.Message{ID: d.ID + "-" + strconv.Itoa(i), From: t.from(r.FinalRecipient), To: to,
			Type: stanza.ChatMessage, Payload: bodyTokens(NoticeText(r))}
		if err := t.Sender.Send(ctx, m); err != nil {
			return t.classify(err)
		}
	}
	return nil
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
