package delivery

import (
	"context"
	"sync"
)

// limiter bounds concurrent sessions per destination key. Slots of idle
// keys are dropped, so the map stays as small as the set of busy keys.
type limiter struct {
	max   int
	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	sem  chan struct{}
	refs int
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, slots: make(map[string]*slot)}
}

// acquire waits for a free session to key and returns its release func.
func (l *limiter) acquire(ctx context.Context, key string) (func(), error) {
	s := l.ref(key)
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; l.unref(key) }, nil
	case <-ctx.Done():
		l.unref(key)
		return nil, ctx.Err()
	}
}

func (l *limiter) ref(key string) *slot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slots[key]
	if s == nil {
		s = &slot{sem: make(chan struct{}, l.max)}
		l.slots[key] = s
	}
	s.refs++
	return s
}

func (l *limiter) unref(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slots[key]
	if s.refs--; s.refs == 0 {
		delete(l.slots, key)
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.slots)
}
