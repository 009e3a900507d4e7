package queue

import (
	"context"
	"io"
	"strings"
	"sync"
)

// memStore is an in-memory [Store] with no fsync, for benchmarks of the
// scheduler. Each Remove is announced on removed, if set.
type memStore struct {
	mu      sync.Mutex
	msgs    map[string]*Envelope
	removed chan string
}

func newMemStore() *memStore { return &memStore{msgs: make(map[string]*Envelope)} }

func (s *memStore) Put(ctx context.Context, env *Envelope, bodies ...io.Reader) error {
	e, err := prepare(env, len(bodies))
	if err != nil {
		return err
	}
	e.ID = NewID()
	s.mu.Lock()
	s.msgs[e.ID] = e.Clone()
	s.mu.Unlock()
	*env = *e
	return nil
}

func (s *memStore) Load(ctx context.Context) ([]*Envelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Envelope, 0, len(s.msgs))
	for _, e := range s.msgs {
		out = append(out, e.Clone())
	}
	return out, nil
}

func (s *memStore) Update(ctx context.Context, id string, rcpts []Recipient) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.msgs[id]
	if !ok {
		return ErrNotFound
	}
	e.Recipients = cloneRecipients(rcpts)
	return nil
}

func (s *memStore) OpenBody(ctx context.Context, id string, n int) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(plainMessage)), nil
}

func (s *memStore) Remove(ctx context.Context, id string) error {
	s.mu.Lock()
	_, ok := s.msgs[id]
	delete(s.msgs, id)
	s.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	if s.removed != nil {
		s.removed <- id
	}
	return nil
}

func (s *memStore) Quarantine(ctx context.Context, id, reason string) error {
	return s.Remove(ctx, id)
}
