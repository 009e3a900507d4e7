package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// inlineMax is the largest body kept inline in the log. Larger ones are
// written to body/<id>.<n> (streamed, never held whole in memory), and the
// put record refers to them.
const inlineMax = 256 << 10

// Put implements [Store]. Bodies up to inlineMax go into one log record
// with the envelope; larger ones are written (and fsynced) to body/ first,
// and body/ is fsynced. The record is appended to the log and Put returns
// once an fsync covers it (shared with the Puts, updates and removals
// running at the same time: group commit). The fsync that covers the
// record is the commit point; on any error nothing is acknowledged and
// what was written is removed or cut off.
func (s *FileStore) Put(ctx context.Context, env *Envelope, bodies ...io.Reader) error {
	e, err := prepare(env, len(bodies))
	if err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	e.ID = NewID()
	if err := s.put(ctx, e, bodies); err != nil {
		return fmt.Errorf("spool message: %w", err)
	}
	*env = *e
	s.log.Debug("spooled", zap.String("id", e.ID), zap.Int("rcpts", len(e.Recipients)))
	return nil
}

// prepare validates env and returns a copy with defaults filled in.
func prepare(env *Envelope, nbodies int) (*Envelope, error) {
	if nbodies != len(env.Bodies) {
		return nil, fmt.Errorf("%w: %d bodies described, %d given", ErrInvalid, len(env.Bodies), nbodies)
	}
	e := env.Clone()
	if e.Received.IsZero() {
		e.Received = time.Now()
	}
	e.Received = e.Received.UTC().Round(0)
	for i := range e.Recipients {
		if e.Recipients[i].State == "" {
			e.Recipients[i].State = StatePending
		}
	}
	if err := e.validate(false); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *FileStore) put(ctx context.Context, e *Envelope, bodies []io.Reader) (err error) {
	inline := make([]bool, len(bodies))
	var data [][]byte
	var files []int
	defer func() {
		if err != nil {
			for _, n := range files {
				s.removeQuietly(s.bodyPath(e.ID, n))
			}
		}
	}()
	for n, r := range bodies {
		b, spilled, err := s.readBody(ctx, e, n, r)
		if spilled {
			files = append(files, n)
		}
		if err != nil {
			return err
		}
		if !spilled {
			inline[n] = true
			data = append(data, b)
		}
	}
	if len(files) > 0 {
		if err := s.fs.SyncDir(s.sub(dirBody)); err != nil {
			return writeError("fsync body dir", err)
		}
	}
	rec, start, err := encodeRecord(&recHeader{Op: opPut, ID: e.ID, Env: e, Inline: inline}, data...)
	if err != nil {
		return err
	}
	if err := s.checkSpace(len(rec)); err != nil {
		return err
	}
	pos, err := s.commit(rec)
	if err != nil {
		return err
	}
	s.imu.Lock()
	s.addLocked(&logEntry{env: e.Clone(), inline: inlineOffsets(e.Bodies, inline, pos.off+start)}, pos.seg)
	s.imu.Unlock()
	return nil
}

// commit appends rec to the log and waits until it is durable.
func (s *FileStore) commit(rec []byte) (recPos, error) {
	pos, err := s.w.append(rec)
	if err != nil {
		return pos, err
	}
	return pos, s.w.wait(pos)
}

// readBody reads body n: up to inlineMax bytes are returned to go inline;
// past that, what was read and the rest are streamed to body/<id>.<n>
// (spilled). It fills the Body's size and SHA-256.
func (s *FileStore) readBody(ctx context.Context, e *Envelope, n int, r io.Reader) (b []byte, spilled bool, err error) {
	cr := ctxReader{ctx, r}
	b, err = io.ReadAll(io.LimitReader(cr, inlineMax+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, fmt.Errorf("%w: read body %d: %w", ErrTemporary, n, err)
	}
	if len(b) <= inlineMax {
		sum := sha256.Sum256(b)
		e.Bodies[n].Size, e.Bodies[n].SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
		return b, false, nil
	}
	size, sum, err := s.writeFile(ctx, s.bodyPath(e.ID, n), io.MultiReader(bytes.NewReader(b), cr))
	if err != nil {
		return nil, false, err // writeFile removed the file
	}
	e.Bodies[n].Size, e.Bodies[n].SHA256 = size, sum
	return nil, true, nil
}

// checkSpace refuses a Put that would leave less free space than the
// reserve that updates and removals need: on a full disk the queue must
// still record deliveries, or it could never free anything.
func (s *FileStore) checkSpace(n int) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return nil // unknown: let the write find out
	}
	total, free := int64(st.Blocks)*int64(st.Bsize), int64(st.Bavail)*int64(st.Bsize)
	reserve := min(max(total/64, 16<<10), 8<<20)
	if free-int64(n) < reserve {
		return fmt.Errorf("%w: %d bytes free, %d reserved for state changes: %w", ErrSpoolFull, free, reserve, syscall.ENOSPC)
	}
	return nil
}

// addLocked puts e in the index, its put and state records in seg.
func (s *FileStore) addLocked(e *logEntry, seg *segment) {
	if old := s.idx[e.env.ID]; old != nil {
		s.dropLocked(old)
	}
	e.put, e.state = seg, seg
	seg.refs += 2
	seg.puts++
	seg.live++
	s.idx[e.env.ID] = e
}

// dropLocked takes e out of the index.
func (s *FileStore) dropLocked(e *logEntry) {
	e.put.refs--
	e.put.live--
	e.state.refs--
	delete(s.idx, e.env.ID)
}
