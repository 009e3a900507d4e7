package xmpp

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
)

// expectBounce registers id so a bounce of it reaches the returned channel;
// release unregisters it.
func (c *Component) expectBounce(id string) (<-chan *Error, func(), error) {
	ch := make(chan *Error, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.pending[id]; dup {
		return nil, nil, tempErr(ErrDuplicateID, nil)
	}
	c.pending[id] = ch
	return ch, func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}, nil
}

// deliverBounce hands the error in r (a bounced message's children) to the
// Send waiting on id. It reports false when nobody waits: the bounce then
// goes to the message handler like any other inbound message.
func (c *Component) deliverBounce(id string, r xml.TokenReader) bool {
	c.mu.Lock()
	ch, ok := c.pending[id]
	c.mu.Unlock()
	if !ok || id == "" {
		return false
	}
	select {
	case ch <- decodeBounce(r):
	default: // a second bounce for the same id: the first one counts
	}
	return true
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
