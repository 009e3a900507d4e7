package xmpp

import (
	"context"
	"sync"

	"mellium.im/xmpp/jid"
)

// ackShare coalesces the acknowledgement pings of concurrent Sends to one
// domain on one link. At most one ping per (link, domain) is in flight;
// the Sends whose messages were written while it was in flight form the
// next round and share one ping, sent once the one in flight is answered,
// so after every message of the round on the same stream: the answer
// acknowledges them all (XEP-0199 ordering, see the package doc). An idle
// gateway pays no extra latency; a loaded one sends one ping per round
// instead of one per message, and the server answers fewer stanzas.
type ackShare struct {
	mu       sync.Mutex
	open     map[ackKey]*ackRound // collecting members; its ping not yet sent
	inflight map[ackKey]*ackRound // ping sent, answer awaited
}

type ackKey struct {
	l      *link
	domain string
}

type ackRound struct {
	done chan struct{} // closed once err is set
	err  error
	prev *ackRound // in flight when this round opened
}

// sharedAck returns once a ping sent after the caller's message (already
// written on l) has been answered, with that ping's result.
func (c *Component) sharedAck(ctx context.Context, l *link, to jid.JID) error {
	a := &c.acks
	key := ackKey{l: l, domain: to.String()}
	a.mu.Lock()
	if a.open == nil {
		a.open, a.inflight = map[ackKey]*ackRound{}, map[ackKey]*ackRound{}
	}
	r := a.open[key]
	if r != nil { // a round whose ping is not sent yet: it will follow our message
		a.mu.Unlock()
		select {
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return c.ackFailure(ctx, l, ctx.Err())
		}
	}
	r = &ackRound{done: make(chan struct{}), prev: a.inflight[key]}
	a.open[key] = r
	a.mu.Unlock()
	r.err = c.leadRound(ctx, l, to, key, r)
	close(r.done)
	return r.err
}

// leadRound waits for the ping in flight, closes the round to newcomers
// and sends its ping.
func (c *Component) leadRound(ctx context.Context, l *link, to jid.JID, key ackKey, r *ackRound) error {
	a := &c.acks
	var waitErr error
	if r.prev != nil {
		select {
		case <-r.prev.done:
		case <-ctx.Done():
			waitErr = c.ackFailure(ctx, l, ctx.Err())
		}
	}
	a.mu.Lock()
	delete(a.open, key) // later Sends start the next round
	if waitErr == nil {
		a.inflight[key] = r
	}
	a.mu.Unlock()
	if waitErr != nil {
		return waitErr
	}
	err := c.ack(ctx, l, to)
	a.mu.Lock()
	if a.inflight[key] == r {
		delete(a.inflight, key)
	}
	a.mu.Unlock()
	return err
}
