package peer

import (
	"context"
	"sync"
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
