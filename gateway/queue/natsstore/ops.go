package natsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// Update implements [queue.Store]: a compare-and-set write of the state
// on the revision this node last read or wrote. If another node wrote in
// between (this node's claim lapsed and another took the message), the
// write fails with an error wrapping queue.ErrNotFound and the message is
// no longer this node's.
func (s *Store) Update(ctx context.Context, id string, rcpts []queue.Recipient) error {
	c, err := s.held(id)
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	if err := queue.CheckUpdate(c.env, rcpts); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	data, err := json.Marshal(state{Rcpts: rcpts})
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	rev, err := s.write(ctx, id, c.rev, data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c.rev = rev
	c.env.Recipients = append([]queue.Recipient(nil), rcpts...)
	s.mu.Unlock()
	return nil
}

// write stores data as id's state if its revision is still rev (0: no
// state yet).
func (s *Store) write(ctx context.Context, id string, rev uint64, data []byte) (uint64, error) {
	ctx, cancel := opContext(ctx)
	defer cancel()
	var n uint64
	var err error
	if rev == 0 {
		n, err = s.kv.Create(ctx, id, data)
	} else {
		n, err = s.kv.Update(ctx, id, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		s.drop(id)
		s.log.Warn("another node took this message over; dropped here", zap.String("id", id))
		return 0, fmt.Errorf("update %s: %w: another node holds it now: %w", id, queue.ErrNotFound, err)
	}
	if err != nil {
		return 0, temporary("update "+id, err)
	}
	return n, nil
}

// Remove implements [queue.Store]. Deleting the put record is the commit
// point; the state and the object-store bodies go after it (a crash in
// between leaves only garbage that nothing reads), then the claim is
// acknowledged.
func (s *Store) Remove(ctx context.Context, id string) error {
	c, err := s.held(id)
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	ctx, cancel := opContext(ctx)
	defer cancel()
	if err := s.stream.DeleteMsg(ctx, c.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return temporary("remove "+id, err)
	}
	s.drop(id)
	if err := s.kv.Purge(ctx, id); err != nil {
		s.log.Warn("state of a removed message left behind", zap.String("id", id), zap.Error(err))
	}
	for n, b := range c.inline {
		if b == nil && n < len(c.env.Bodies) {
			if err := s.obj.Delete(ctx, s.objName(id, n)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				s.log.Warn("body of a removed message left behind", zap.String("id", id), zap.Int("body", n), zap.Error(err))
			}
		}
	}
	_ = c.msg.Ack()
	return nil
}

// Quarantine implements [queue.Store]: the reason goes in the state (with
// the recipients), the consumer stops handing the message out, and its
// put record and bodies stay for the operator. A message this node does
// not hold (a DSN spooled without a route) is marked the same way and
// terminated when it is next claimed.
func (s *Store) Quarantine(ctx context.Context, id, reason string) error {
	c := s.drop(id)
	if c == nil {
		data, _ := json.Marshal(state{Quarantined: reason})
		if _, err := s.kv.Put(ctx, id, data); err != nil {
			return temporary("quarantine "+id, err)
		}
	} else {
		data, _ := json.Marshal(state{Rcpts: c.env.Recipients, Quarantined: reason})
		if _, err := s.write(ctx, id, c.rev, data); err != nil {
			return err
		}
		_ = c.msg.Term()
	}
	s.log.Error("message quarantined", zap.String("id", id), zap.String("reason", reason),
		zap.String("action", "inspect it with `passerelle queue list`; it stays in stream "+s.cfg.Stream))
	return nil
}

// OpenBody implements [queue.Store]. An inline body comes from the put
// record (held in memory while this node holds the message, else read from
// the stream), a large one from the object store.
func (s *Store) OpenBody(ctx context.Context, id string, n int) (io.ReadCloser, error) {
	env, inline, err := s.record(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, err)
	}
	if n < 0 || n >= len(env.Bodies) {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, queue.ErrNotFound)
	}
	want := env.Bodies[n]
	if inline[n] != nil || want.Size == 0 {
		return queue.CheckedBody(bytes.NewReader(inline[n]), io.NopCloser(nil), want), nil
	}
	r, err := s.obj.Get(ctx, s.objName(id, n))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("open body %s.%d: %w: body missing", id, n, queue.ErrDamaged)
	}
	if err != nil {
		return nil, temporary(fmt.Sprintf("open body %s.%d", id, n), err)
	}
	return queue.CheckedBody(r, r, want), nil
}

// record returns the put record of id: from the claim, or from the stream.
func (s *Store) record(ctx context.Context, id string) (*queue.Envelope, [][]byte, error) {
	if c, err := s.held(id); err == nil {
		return c.env, c.inline, nil
	}
	if !queue.ValidID(id) {
		return nil, nil, fmt.Errorf("%w: %q", queue.ErrNotFound, id)
	}
	m, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil, fmt.Errorf("%w: %s", queue.ErrNotFound, id)
	}
	if err != nil {
		return nil, nil, temporary("read "+id, err)
	}
	return decodePut(m.Data)
}

// opTimeout bounds one state change. A JetStream API request whose stream
// leader just died gets no answer until a new leader is elected; the queue
// retries a failed state change, so waiting out its whole persist timeout
// would only hold the message (and a worker) longer.
const opTimeout = 10 * time.Second

func opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}
