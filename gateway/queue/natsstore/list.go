package natsstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"passerelle/gateway/queue"
)

// Load implements [queue.Store] for operators' tools (`passerelle queue
// list`): every message in the shared queue with its current state,
// whichever node holds it. The queue itself never calls it on a shared
// store (it claims). Quarantined and damaged entries are left out; List
// returns them.
func (s *Store) Load(ctx context.Context) ([]*queue.Envelope, error) {
	envs, _, err := s.List(ctx)
	return envs, err
}

// List returns every live message with its state, sorted by arrival, and
// the quarantined or damaged ones.
func (s *Store) List(ctx context.Context) ([]*queue.Envelope, []queue.Damaged, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.prefix+"*"))
	if err != nil {
		return nil, nil, temporary("list", err)
	}
	var envs []*queue.Envelope
	var damaged []queue.Damaged
	for subj := range info.State.Subjects {
		id := strings.TrimPrefix(subj, s.prefix)
		e, dmg, err := s.read(ctx, id)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			continue // removed since the listing
		case err != nil:
			return nil, nil, err
		case dmg != nil:
			damaged = append(damaged, *dmg)
		default:
			envs = append(envs, e)
		}
	}
	slices.SortFunc(envs, func(a, b *queue.Envelope) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	slices.SortFunc(damaged, func(a, b queue.Damaged) int { return cmp.Compare(a.ID, b.ID) })
	return envs, damaged, nil
}

// read returns message id as the shared queue holds it now.
func (s *Store) read(ctx context.Context, id string) (*queue.Envelope, *queue.Damaged, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil, queue.ErrNotFound
	}
	if err != nil {
		return nil, nil, temporary("read "+id, err)
	}
	e, _, derr := decodePut(m.Data)
	var st *state
	ent, err := s.kv.Get(ctx, id)
	switch {
	case err == nil:
		st, err = decodeState(ent.Value())
		if err != nil {
			return nil, &queue.Damaged{ID: id, Reason: err.Error(), Envelope: e, Quarantined: true}, nil
		}
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
	default:
		return nil, nil, temporary("read state "+id, err)
	}
	if derr != nil {
		return nil, &queue.Damaged{ID: id, Reason: derr.Error(), Quarantined: true}, nil
	}
	if st != nil && len(st.Rcpts) == len(e.Recipients) {
		e.Recipients = st.Rcpts
	}
	if st != nil && st.Quarantined != "" {
		return nil, &queue.Damaged{ID: id, Reason: st.Quarantined, Envelope: e, Quarantined: true}, nil
	}
	return e, nil, nil
}

// Records is how many put records the stream holds now: every node's
// messages, quarantined ones included.
func (s *Store) Records(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, temporary("stream info", err)
	}
	return info.State.Msgs, nil
}

// Connected reports whether the connection to the cluster is up.
func (s *Store) Connected() bool { return s.nc.IsConnected() }
