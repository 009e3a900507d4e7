package queue

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// Put implements [Store]. It writes body/<id>.<n> for each body (fsync
// each), fsyncs body/, then writes the envelope atomically into env/ and
// fsyncs env/. The envelope's rename is the commit point; on any error
// everything written is removed and nothing is acknowledged.
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
	written := 0
	renamed := false
	defer func() {
		if err != nil {
			s.rollback(e.ID, written, renamed)
		}
	}()
	for n, r := range bodies {
		size, sum, err := s.writeFile(ctx, s.bodyPath(e.ID, n), r)
		if err != nil {
			return err
		}
		written++
		e.Bodies[n].Size, e.Bodies[n].SHA256 = size, sum
	}
	if err := s.fs.SyncDir(s.sub(dirBody)); err != nil {
		return writeError("fsync body dir", err)
	}
	data, err := encodeEnvelope(e)
	if err != nil {
		return err
	}
	renamed, err = s.writeAtomic(ctx, s.envPath(e.ID), data)
	return err
}

// rollback removes what a failed Put wrote. If the envelope was renamed
// into place but its directory fsync failed, it is removed too: the client
// was not acknowledged and will retry.
func (s *FileStore) rollback(id string, bodies int, renamed bool) {
	if renamed {
		s.removeQuietly(s.envPath(id))
		_ = s.fs.SyncDir(s.sub(dirEnv))
	}
	for n := range bodies {
		s.removeQuietly(s.bodyPath(id, n))
	}
	_ = s.fs.SyncDir(s.sub(dirBody))
	s.log.Debug("spool rolled back", zap.String("id", id), zap.String("dir", filepath.Base(s.dir)))
}
