package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"passerelle/gateway/queue"
)

// Operators' commands on the shared queue. They change the stored state
// directly, whichever node holds the message, so any node or the
// `passerelle queue` command with the cluster's configuration can run them.
// A node delivering the message at that moment loses it at its next state
// write (compare-and-set) and the next claim starts from the operator's
// state: a recipient that node delivered but had not recorded is
// delivered again (the same message id: a recognisable duplicate). A
// deferred message sees the change when JetStream next hands it out,
// within MaxDefer.

// Show returns message id as the shared queue holds it.
func (s *Store) Show(ctx context.Context, id string) (*queue.Envelope, error) {
	if !queue.ValidID(id) {
		return nil, fmt.Errorf("%w: %q", queue.ErrNotFound, id)
	}
	e, dmg, err := s.read(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("show %s: %w", id, err)
	}
	if dmg != nil {
		if dmg.Envelope != nil {
			return dmg.Envelope, nil
		}
		return nil, fmt.Errorf("show %s: %w: %s", id, queue.ErrDamaged, dmg.Reason)
	}
	return e, nil
}

// Operate applies op (retry, hold, release, delete: [queue.Operator]) to
// message id, or to every message if id is "", and returns how many
// messages changed.
func (s *Store) Operate(ctx context.Context, op, id string) (int, error) {
	ids := []string{id}
	if id == "" {
		envs, err := s.Load(ctx)
		if err != nil {
			return 0, err
		}
		ids = ids[:0]
		for _, e := range envs {
			ids = append(ids, e.ID)
		}
	}
	n := 0
	for _, id := range ids {
		changed, err := s.operate(ctx, op, id)
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

func (s *Store) operate(ctx context.Context, op, id string) (bool, error) {
	for range 5 { // lost a compare-and-set to a node writing the same message: read again
		e, dmg, err := s.read(ctx, id)
		if err != nil {
			return false, fmt.Errorf("%s %s: %w", op, id, err)
		}
		if dmg != nil {
			return false, fmt.Errorf("%s %s: quarantined: %s", op, id, dmg.Reason)
		}
		changed, err := queue.Operator(op, e, time.Now())
		if err != nil || !changed {
			return false, err
		}
		rev := uint64(0)
		if ent, err := s.kv.Get(ctx, id); err == nil {
			rev = ent.Revision()
			if st, err := decodeState(ent.Value()); err != nil || len(st.Rcpts) != len(e.Recipients) {
				return false, fmt.Errorf("%s %s: state changed meanwhile", op, id)
			}
		}
		data, err := json.Marshal(state{Rcpts: e.Recipients})
		if err != nil {
			return false, err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, id, data)
		} else {
			_, err = s.kv.Update(ctx, id, data, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return false, temporary(op+" "+id, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("%s %s: %w", op, id, queue.ErrBusy)
}

// Discard removes message id at once, with no DSN (`queue delete
// -silent`).
func (s *Store) Discard(ctx context.Context, id string) error {
	if !queue.ValidID(id) {
		return fmt.Errorf("%w: %q", queue.ErrNotFound, id)
	}
	m, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete %s: %w", id, queue.ErrNotFound)
	}
	if err != nil {
		return temporary("delete "+id, err)
	}
	e, _, derr := decodePut(m.Data)
	if err := s.stream.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return temporary("delete "+id, err)
	}
	_ = s.kv.Purge(ctx, id)
	if derr == nil {
		for n := range e.Bodies {
			_ = s.obj.Delete(ctx, s.objName(id, n))
		}
	}
	return nil
}
