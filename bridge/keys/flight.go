package keys

import (
	"context"
	"fmt"
	"sync"
)

// flight runs one call per key at a time; concurrent callers for the same
// key wait for and share its result (single-flight).
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// do runs fn for key unless a call for key is already running, in which
// case it waits for that call or for ctx. fn runs to completion even if the
// first caller's ctx ends, so every waiter gets the one result.
func (f *flight[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*flightCall[T])
	}
	c, running := f.calls[key]
	if !running {
		c = &flightCall[T]{done: make(chan struct{})}
		f.calls[key] = c
	}
	f.mu.Unlock()
	if !running {
		go f.run(key, c, fn)
	}
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (f *flight[T]) run(key string, c *flightCall[T], fn func() (T, error)) {
	defer func() {
		if r := recover(); r != nil {
			c.err = fmt.Errorf("keys: panic in single-flight call: %v", r)
		}
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
}
