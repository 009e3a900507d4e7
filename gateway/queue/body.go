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
// damaged body is never passed on as complete. An inline body is read
// from its log segment, a large one from body/.
func (s *FileStore) OpenBody(ctx context.Context, id string, n int) (io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, err)
	}
	if n < 0 || n >= len(e.env.Bodies) {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, ErrNotFound)
	}
	want := e.env.Bodies[n]
	if off := e.inline[n]; off >= 0 {
		f, err := s.fs.Open(e.put.path)
		if err != nil {
			return nil, fmt.Errorf("open body %s.%d: %w", id, n, err)
		}
		return &checkedReader{r: io.NewSectionReader(f, off, want.Size), c: f, want: want, h: sha256.New()}, nil
	}
	f, err := s.fs.Open(s.bodyPath(id, n))
	if notExist(err) {
		return nil, fmt.Errorf("open body %s.%d: %w: body missing", id, n, ErrDamaged)
	}
	if err != nil {
		return nil, fmt.Errorf("open body %s.%d: %w", id, n, err)
	}
	return &checkedReader{r: f, c: f, want: want, h: sha256.New()}, nil
}

// checkedReader verifies a body while it is read.
type checkedReader struct {
	r    io.Reader
	c    io.Closer
	want Body
	h    hash.Hash
	n    int64
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
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

func (r *checkedReader) Close() error { return r.c.Close() }
