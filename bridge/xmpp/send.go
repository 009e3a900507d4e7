package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

const nsPing = "urn:xmpp:ping" // XEP-0199

// Message is an outbound <message/>.
type Message struct {
	ID      string             // stanza id; generated when empty. Bounces match on it.
	From    jid.JID            // default: the component's domain
	To      jid.JID            // required
	Type    stanza.MessageType // default: normal
	Payload xml.TokenReader    // the message's children; may be nil
}

// Send writes m and returns nil only once the server has answered an
// XEP-0199 ping sent after it on the same stream (see the package doc);
// concurrent Sends to one domain share that ping (ackShare). A
// bounce of m is returned as *Error; link trouble as a temporary error
// wrapping ErrNotConnected, ErrLinkLost or ErrAckTimeout. While
// disconnected, Send waits for the link until ctx is done.
func (c *Component) Send(ctx context.Context, m Message) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	if m.To.String() == "" {
		return errors.New("xmpp: message without recipient")
	}
	m = c.fill(m)
	bounce, release, err := c.expectBounce(m.ID, m.To)
	if err != nil {
		return err
	}
	defer release()
	l, err := c.waitLink(ctx)
	if err != nil {
		return err
	}
	if err := l.sess.Send(ctx, m.tokens()); err != nil {
		return tempErr(ErrLinkLost, err)
	}
	ackErr := c.sharedAck(ctx, l, m.To.Domain())
	select {
	case e := <-bounce: // handled before the ack by the in-order Serve loop
		return e
	default:
		return ackErr
	}
}

// Write writes m and returns without waiting for an acknowledgement, or
// with a temporary ErrNotConnected at once while there is no link: for
// stanzas whose loss costs nothing but themselves (error replies). It does
// not wait on the link, so a MessageHandler may call it.
func (c *Component) Write(ctx context.Context, m Message) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	if m.To.String() == "" {
		return errors.New("xmpp: message without recipient")
	}
	c.mu.Lock()
	l := c.cur
	c.mu.Unlock()
	if l == nil || l.ctx.Err() != nil {
		return tempErr(ErrNotConnected, nil)
	}
	if err := l.sess.Send(ctx, c.fill(m).tokens()); err != nil {
		return tempErr(ErrLinkLost, err)
	}
	return nil
}

func (c *Component) fill(m Message) Message {
	if m.ID == "" {
		m.ID = randomID()
	}
	if m.From.String() == "" {
		m.From = c.from()
	}
	if m.Type == "" {
		m.Type = stanza.NormalMessage
	}
	return m
}

func (m Message) tokens() xml.TokenReader {
	payload := m.Payload
	if payload == nil {
		payload = xmlstream.MultiReader()
	}
	return stanza.Message{ID: m.ID, From: m.From, To: m.To, Type: m.Type}.Wrap(payload)
}

// ack round-trips a ping to the recipient's domain on link l.
func (c *Component) ack(ctx context.Context, l *link, to jid.JID) error {
	ackCtx, cancel := context.WithTimeout(ctx, c.cfg.AckTimeout)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()
	ping := stanza.IQ{ID: randomID(), From: c.from(), To: to, Type: stanza.GetIQ}.
		Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsPing, Local: "ping"}}))
	resp, err := l.sess.SendIQ(ackCtx, ping)
	if err != nil {
		return c.ackFailure(ctx, l, err)
	}
	defer resp.Close()
	return checkAckResponse(resp)
}

func (c *Component) ackFailure(ctx context.Context, l *link, err error) error {
	switch {
	case l.ctx.Err() != nil:
		return tempErr(ErrLinkLost, nil)
	case ctx.Err() != nil:
		return tempErr(ErrAckTimeout, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return tempErr(ErrAckTimeout, fmt.Errorf("no answer in %v", c.cfg.AckTimeout))
	}
	return tempErr(ErrLinkLost, err)
}

// checkAckResponse accepts any answer to the ping (a server without
// XEP-0199 answers with an error, which still proves ordering) except a
// routing failure, which means the message went nowhere either.
func checkAckResponse(resp xml.TokenReader) error {
	tok, err := resp.Token()
	if err != nil {
		return tempErr(ErrLinkLost, err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return tempErr(ErrLinkLost, fmt.Errorf("unexpected ack token %T", tok))
	}
	iq, err := stanza.NewIQ(start)
	if err != nil || iq.Type != stanza.ErrorIQ {
		return nil
	}
	e := decodeBounce(xmlstream.Inner(resp))
	if e.Condition == "remote-server-not-found" || e.Condition == "remote-server-timeout" {
		return e
	}
	return nil // Serve discards the rest once resp is closed
}
