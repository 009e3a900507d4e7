package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// Load implements [Store]. A damaged envelope is quarantined and left out.
func (s *FileStore) Load(ctx context.Context) ([]*Envelope, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	entries, err := s.fs.ReadDir(s.sub(dirEnv))
	if err != nil {
		return nil, fmt.Errorf("load spool: %w", err)
	}
	var out []*Envelope
	for _, de := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || !validID(id) {
			continue // Recover deals with strangers
		}
		e, err := s.readEnvelope(id)
		if errors.Is(err, ErrDamaged) {
			s.quarantineLocked(id, err.Error())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load spool: %w", err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Envelope) int { return a.Received.Compare(b.Received) })
	return out, nil
}

// Update implements [Store]: it rewrites the envelope atomically.
func (s *FileStore) Update(ctx context.Context, id string, rcpts []Recipient) error {
	if err := checkID(id); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.readEnvelope(id)
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	if err := sameRecipients(e.Recipients, rcpts); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	e.Recipients = cloneRecipients(rcpts)
	if err := e.validate(true); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	data, err := encodeEnvelope(e)
	if err != nil {
		return err
	}
	if _, err := s.writeAtomic(ctx, s.envPath(id), data); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	return nil
}

// sameRecipients checks that an update changes only recipient state.
func sameRecipients(old, upd []Recipient) error {
	if len(old) != len(upd) {
		return fmt.Errorf("%w: %d recipients, update has %d", ErrInvalid, len(old), len(upd))
	}
	for i := range old {
		o, u := &old[i], &upd[i]
		if o.Addr != u.Addr || o.Route != u.Route || o.Body != u.Body {
			return fmt.Errorf("%w: recipient %d changed identity", ErrInvalid, i)
		}
	}
	return nil
}

// Remove implements [Store]. The envelope goes first (the commit point);
// bodies left by a crash after that are orphans that Recover deletes.
func (s *FileStore) Remove(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.fs.Remove(s.envPath(id)); err != nil {
		if notExist(err) {
			return fmt.Errorf("remove %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("remove %s: %w", id, err)
	}
	if err := s.fs.SyncDir(s.sub(dirEnv)); err != nil {
		return fmt.Errorf("remove %s: fsync: %w", id, err)
	}
	for n := 0; ; n++ {
		if err := s.fs.Remove(s.bodyPath(id, n)); err != nil {
			if !notExist(err) {
				s.log.Warn("remove body", zap.String("id", id), zap.Int("body", n), zap.Error(err))
			}
			break
		}
	}
	return nil
}

// Quarantine implements [Store].
func (s *FileStore) Quarantine(ctx context.Context, id, reason string) error {
	if err := checkID(id); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.quarantineLocked(id, reason)
}

func sortDamaged(d []Damaged) {
	slices.SortFunc(d, func(a, b Damaged) int { return cmp.Compare(a.ID, b.ID) })
}
