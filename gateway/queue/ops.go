package queue

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"
)

// Load implements [Store]: the messages in the index (Recover built it).
func (s *FileStore) Load(ctx context.Context) ([]*Envelope, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.imu.Lock()
	out := make([]*Envelope, 0, len(s.idx))
	for _, e := range s.idx {
		out = append(out, e.env.Clone())
	}
	s.imu.Unlock()
	slices.SortFunc(out, func(a, b *Envelope) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// lookup returns the index entry of id.
func (s *FileStore) lookup(id string) (*logEntry, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.imu.Lock()
	defer s.imu.Unlock()
	e := s.idx[id]
	if e == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e, nil
}

// Update implements [Store]: it appends the new recipient state to the log.
func (s *FileStore) Update(ctx context.Context, id string, rcpts []Recipient) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	en, err := s.lookup(id)
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	if err := sameRecipients(en.env.Recipients, rcpts); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	ne := en.env.Clone()
	ne.Recipients = cloneRecipients(rcpts)
	if err := ne.validate(true); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	rec, _, err := encodeRecord(&recHeader{Op: opUpdate, ID: id, Rcpts: ne.Recipients})
	if err != nil {
		return err
	}
	pos, err := s.commit(rec)
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	s.imu.Lock()
	if s.idx[id] == en {
		en.state.refs--
		en.state = pos.seg
		pos.seg.refs++
		en.env = ne
	}
	s.imu.Unlock()
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

// Remove implements [Store]. The removal record is the commit point; it
// is appended without waiting for its fsync (the next group commit
// carries it), as Postfix unlinks a delivered queue file without syncing
// its directory: a crash just after can only bring back a message already
// delivered, to be delivered again under the same stanza id. A message
// with body files waits for its record before they are deleted, so a crash
// never brings back a message without its bodies. Body files left by a
// crash after the record are orphans that Recover deletes.
func (s *FileStore) Remove(ctx context.Context, id string) error {
	if err := s.remove(id, opRemove, ""); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	s.maintain()
	return nil
}

// remove appends a removal (or quarantine) record for id, drops it from
// the index and deletes its body files.
func (s *FileStore) remove(id, op, reason string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	en, err := s.lookup(id)
	if err != nil {
		return err
	}
	return s.removeEntry(en, op, reason)
}

func (s *FileStore) removeEntry(en *logEntry, op, reason string) error {
	id := en.env.ID
	rec, _, err := encodeRecord(&recHeader{Op: op, ID: id, Reason: reason})
	if err != nil {
		return err
	}
	pos, err := s.w.append(rec)
	if err != nil {
		return err
	}
	if op != opRemove || slicesAny(en.inline, func(off int64) bool { return off < 0 }) {
		if err := s.w.wait(pos); err != nil {
			return err
		}
	}
	s.imu.Lock()
	if s.idx[id] == en {
		s.dropLocked(en)
	}
	s.imu.Unlock()
	if op == opRemove {
		for n, off := range en.inline {
			if off < 0 {
				s.removeQuietly(s.bodyPath(id, n))
			}
		}
	}
	return nil
}

// Quarantine implements [Store].
func (s *FileStore) Quarantine(ctx context.Context, id, reason string) error {
	s.mu.RLock()
	err := s.quarantineLocked(id, reason)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	s.maintain()
	return nil
}

// Compaction thresholds: the oldest segment's live messages are copied
// forward once at most 1/compactRatio of its messages are still live (a
// few long-retrying ones pinning it), or once the log has more than
// maxSegments segments whatever the ratio. Copying a mostly live segment
// would only repeat writes the deliveries are about to make unnecessary,
// with every operation waiting (compaction holds the store exclusively).
const (
	compactRatio = 8
	maxSegments  = 16
)

// maintain deletes the oldest segments once nothing live refers to them,
// and moves the few live messages of the oldest into the active one so
// that it can go (compaction; see compactRatio).
func (s *FileStore) maintain() {
	s.mu.RLock()
	n := s.reclaim()
	due := n > 2 && s.compactionDue(n)
	s.mu.RUnlock()
	if !due {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.compactOldest(); err != nil {
		s.log.Warn("log compaction failed", zap.Error(err))
		return
	}
	s.reclaim()
}

func (s *FileStore) compactionDue(segments int) bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	s.w.mu.Lock()
	oldest := s.w.segs[0]
	s.w.mu.Unlock()
	return segments > maxSegments || oldest.live*compactRatio <= oldest.puts
}

// reclaim deletes leading segments that nothing live refers to and
// returns how many segments remain. Segments go oldest first, each
// deletion made durable before the next: a removal record must outlive
// every put record it cancels, or a crash could bring a message back.
func (s *FileStore) reclaim() int {
	s.imu.Lock()
	defer s.imu.Unlock()
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for len(s.w.segs) > 0 {
		seg := s.w.segs[0]
		if (s.w.f != nil && seg == s.w.seg) || seg.refs > 0 {
			break
		}
		if err := s.fs.Remove(seg.path); err != nil && !notExist(err) {
			s.log.Warn("remove log segment", zap.String("segment", segName(seg.seq)), zap.Error(err))
			break
		}
		if err := s.fs.SyncDir(s.sub(dirLog)); err != nil {
			s.log.Warn("fsync log dir", zap.Error(err))
			break
		}
		s.w.segs = s.w.segs[1:]
	}
	return len(s.w.segs)
}

func sortDamaged(d []Damaged) {
	slices.SortFunc(d, func(a, b Damaged) int { return cmp.Compare(a.ID, b.ID) })
}
