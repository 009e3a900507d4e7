package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// Claim implements [queue.SharedStore]: it fetches up to max messages from
// the shared consumer (waiting FetchWait at most) and reads each one's
// state. An undecodable record is quarantined, a quarantined one
// terminated; neither is returned.
func (s *Store) Claim(ctx context.Context, max int) ([]*queue.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// What is there now, at once; only when nothing is, wait (for one):
	// a Fetch of max messages would wait for all max or the full FetchWait.
	batch, err := s.cons.FetchNoWait(max)
	if err != nil {
		return nil, temporary("claim", err)
	}
	out, n := s.takeBatch(ctx, batch)
	if n > 0 || ctx.Err() != nil {
		return out, nil
	}
	if batch, err = s.cons.Fetch(1, jetstream.FetchMaxWait(s.cfg.FetchWait)); err != nil {
		return nil, temporary("claim", err)
	}
	out, _ = s.takeBatch(ctx, batch)
	return out, nil
}

// takeBatch takes every message of batch; n counts those fetched, taken
// or not. The batch ends when the server says so; a connection that goes
// away meanwhile must not hold the dispatcher, so the wait is bounded here
// too. A message arriving after that is never seen by this node, and its
// claim lapses after AckWait.
func (s *Store) takeBatch(ctx context.Context, batch jetstream.MessageBatch) (out []*queue.Envelope, n int) {
	timer := time.NewTimer(s.cfg.FetchWait + 2*time.Second)
	defer timer.Stop()
	msgs := batch.Messages()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if err := batch.Error(); err != nil && n == 0 && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
					s.log.Debug("claim", zap.Error(err))
				}
				return out, n
			}
			n++
			if e := s.take(ctx, m); e != nil {
				out = append(out, e)
			}
		case <-ctx.Done():
			return out, n
		case <-timer.C:
			return out, n
		}
	}
}

// take turns a fetched put record into a held message, or sets it aside.
func (s *Store) take(ctx context.Context, m jetstream.Msg) *queue.Envelope {
	md, err := m.Metadata()
	if err != nil {
		s.log.Error("claimed message without metadata; left to redeliver", zap.Error(err))
		return nil
	}
	id := strings.TrimPrefix(m.Subject(), s.prefix)
	e, inline, err := decodePut(m.Data())
	if err == nil && e.ID != id {
		err = fmt.Errorf("%w: record of %s on the subject of %s", queue.ErrDamaged, e.ID, id)
	}
	if err != nil {
		s.setAside(ctx, m, id, err.Error())
		return nil
	}
	rev := uint64(0)
	ent, err := s.kv.Get(ctx, id)
	switch {
	case err == nil:
		st, derr := decodeState(ent.Value())
		if derr == nil && st.Quarantined != "" {
			_ = m.Term()
			return nil
		}
		if derr == nil {
			derr = queue.CheckUpdate(e, st.Rcpts)
		}
		if derr != nil {
			s.setAside(ctx, m, id, "state: "+derr.Error())
			return nil
		}
		e.Recipients, rev = st.Rcpts, ent.Revision()
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		// Never updated: the put record's state is the state.
	default:
		s.log.Warn("reading a claimed message's state failed; handed back", zap.String("id", id), zap.Error(err))
		_ = m.NakWithDelay(time.Second)
		return nil
	}
	s.mu.Lock()
	s.claims[id] = &claim{msg: m, seq: md.Sequence.Stream, rev: rev, env: e.Clone(), inline: inline}
	s.mu.Unlock()
	if md.NumDelivered > 1 {
		s.log.Debug("claimed again", zap.String("id", id), zap.Uint64("deliveries", md.NumDelivered))
	}
	return e
}

// setAside quarantines a record that cannot be decoded: the reason goes in
// its state, the record stays in the stream for the operator, and the
// consumer never hands it out again.
func (s *Store) setAside(ctx context.Context, m jetstream.Msg, id, reason string) {
	if !queue.ValidID(id) {
		id = "" // the reason is still logged
	}
	if id != "" {
		data, _ := json.Marshal(state{Quarantined: reason})
		if _, err := s.kv.Put(ctx, id, data); err != nil {
			s.log.Error("quarantining a damaged record failed; left to redeliver", zap.String("id", id), zap.Error(err))
			return
		}
	}
	_ = m.Term()
	md, _ := m.Metadata()
	var seq uint64
	if md != nil {
		seq = md.Sequence.Stream
	}
	s.log.Error("damaged record quarantined", zap.String("id", id), zap.Uint64("seq", seq), zap.String("reason", reason),
		zap.String("action", "inspect it with `passerelle queue list`; the record stays in stream "+s.cfg.Stream))
}

// Defer implements [queue.SharedStore]: a delayed NAK, at most MaxDefer.
func (s *Store) Defer(ctx context.Context, id string, due time.Time) error {
	c := s.drop(id)
	if c == nil {
		return fmt.Errorf("defer %s: %w: not held by this node", id, queue.ErrNotFound)
	}
	d := min(max(time.Until(due), 0), s.cfg.MaxDefer)
	if err := c.msg.NakWithDelay(d); err != nil {
		return temporary("defer "+id, err)
	}
	return nil
}
