package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// OpenBody implements [Store]. The returned reader checks the body against
// its recorded size and SHA-256 as it is read: at the end it returns an
// error wrapping ErrDamaged instead of io.EOF if they do not match, so a
// damaged body is never passed on as complete.
func (s *FileStore) OpenBody(ctx context.Context, id string, n int) (io.ReadCloser, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.readEnvelope(id)
	if err != nil {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, err)
	}
	if n < 0 || n >= len(e.Bodies) {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, ErrNotFound)
	}
	f, err := s.fs.Open(s.bodyPath(id, n))
	if notExist(err) {
		return nil, fmt.Errorf("open body %s.%d: %w: body missing", id, n, ErrDamaged)
	}
	if err != nil {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, err)
	}
	return &checkedReader{f: f, want: e.Bodies[n], h: sha256.New()}, nil
}

// checkedReader verifies a body while it is read.
type checkedReader struct {
	f    file
	want Body
	h    hash.Hash
	n    int64
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.n += int64(n)
	r.h.Write(p[:n])
	if r.n > r.want.Size {
		return n, fmt.Errorf("%w: body longer than %d bytes", ErrDamaged, r.want.Size)
	}
	if err == io.EOF {
		if r.n != r.want.Size {
			return n, fmt.Errorf("%w: body is %d bytes, want %d", ErrDamaged, r.n, r.want.Size)
		}
		if hex.EncodeToString(r.h.Sum(nil)) != r.want.SHA256 {
			return n, fmt.Errorf("%w: body sha256 mismatch", ErrDamaged)
		}
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.f.Close() }
