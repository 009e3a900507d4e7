package xmpp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"

	"mellium.im/xmpp/jid"
)

// pendingSend is a Send waiting for its ack: a bounce of it reaches ch.
type pendingSend struct {
	to jid.JID // the message's recipient
	ch chan *Error
}

// bouncedBy reports whether from may bounce a message to p.to: the
// recipient itself (RFC 6120 §8.3.1: the error comes from the entity the
// stanza was addressed to, which Prosody stamps as the bare JID) or its
// server. Anyone else who learnt the stanza id cannot fail the Send.
func (p pendingSend) bouncedBy(from jid.JID) bool {
	return from.Bare().Equal(p.to.Bare()) || from.Equal(p.to.Domain())
}

// expectBounce registers id so a bounce of it from to (or to's server)
// reaches the returned channel; release unregisters it.
func (c *Component) expectBounce(id string, to jid.JID) (<-chan *Error, func(), error) {
	ch := make(chan *Error, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.pending[id]; dup {
		return nil, nil, tempErr(ErrDuplicateID, nil)
	}
	c.pending[id] = pendingSend{to: to, ch: ch}
	return ch, func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}, nil
}

// deliverBounce hands the error in r (a bounced message's children) from
// from to the Send waiting on id. It reports false when nobody waits, or
// when from is not the one who may bounce it: the stanza then goes to the
// message handler like any other inbound message.
func (c *Component) deliverBounce(id string, from jid.JID, r xml.TokenReader) bool {
	c.mu.Lock()
	p, ok := c.pending[id]
	c.mu.Unlock()
	if !ok || id == "" || !p.bouncedBy(from) {
		return false
	}
	select {
	case p.ch <- decodeBounce(r):
	default: // a second bounce for the same id: the first one counts
	}
	return true
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
