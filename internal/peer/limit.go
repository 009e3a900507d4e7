package peer

import (
	"context"
	"sync"
	"time"
)

// perPeer bounds the transfers in flight to one peer domain: a slow peer
// holds at most max of the queue's workers.
type perPeer struct {
	max int
	mu  sync.Mutex
	sem map[string]chan struct{}
}

func (p *perPeer) acquire(ctx context.Context, dom string) (release func(), err error) {
	p.mu.Lock()
	s, ok := p.sem[dom]
	if !ok {
		s = make(chan struct{}, p.max)
		p.sem[dom] = s
	}
	p.mu.Unlock()
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// bucket is a token bucket per sending gateway: rate tokens a minute, up
// to burst.
type bucket struct {
	rate, burst float64
	now         func() time.Time

	mu    sync.Mutex
	state map[string]*tokens
}

type tokens struct {
	n    float64
	last time.Time
}

// allow takes one token for key, or reports false.
func (b *bucket) allow(key string) bool {
	if b.rate <= 0 {
		return true
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.state[key]
	if !ok {
		if len(b.state) > 10000 {
			clear(b.state)
		}
		t = &tokens{n: b.burst, last: now}
		b.state[key] = t
	}
	t.n = min(b.burst, t.n+now.Sub(t.last).Minutes()*b.rate)
	t.last = now
	if t.n < 1 {
		return false
	}
	t.n--
	return true
}
