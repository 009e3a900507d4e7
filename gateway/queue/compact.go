package queue

import (
	"fmt"
	"io"
)

// compactOldest moves every live message that refers to the oldest
// segment into the active one: a new put record with the current state
// (and the inline bodies, copied). Replay applies records in log order, so
// the copy supersedes the original and every update before it. It runs
// with mu held exclusively: no state changes while it copies.
func (s *FileStore) compactOldest() error {
	s.w.mu.Lock()
	if len(s.w.segs) == 0 || (s.w.f != nil && s.w.segs[0] == s.w.seg) {
		s.w.mu.Unlock()
		return nil
	}
	old := s.w.segs[0]
	s.w.mu.Unlock()
	s.imu.Lock()
	var move []*logEntry
	for _, e := range s.idx {
		if e.put == old || e.state == old {
			move = append(move, e)
		}
	}
	s.imu.Unlock()
	for _, e := range move {
		if err := s.move(e); err != nil {
			return fmt.Errorf("compact %s: %w", segName(old.seq), err)
		}
	}
	return nil
}

// move re-puts e at the end of the log.
func (s *FileStore) move(e *logEntry) error {
	inline := make([]bool, len(e.inline))
	var data [][]byte
	if slicesAny(e.inline, func(off int64) bool { return off >= 0 }) {
		f, err := s.fs.Open(e.put.path)
		if err != nil {
			return err
		}
		defer f.Close()
		for n, off := range e.inline {
			if off < 0 {
				continue
			}
			b := make([]byte, e.env.Bodies[n].Size)
			if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
				return err
			}
			inline[n] = true
			data = append(data, b)
		}
	}
	rec, start, err := encodeRecord(&recHeader{Op: opPut, ID: e.env.ID, Env: e.env, Inline: inline}, data...)
	if err != nil {
		return err
	}
	pos, err := s.commit(rec)
	if err != nil {
		return err
	}
	s.imu.Lock()
	s.addLocked(&logEntry{env: e.env, inline: inlineOffsets(e.env.Bodies, inline, pos.off+start)}, pos.seg)
	s.imu.Unlock()
	return nil
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}
