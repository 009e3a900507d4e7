package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"

	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeFile creates path (it must not exist), copies r into it and fsyncs
// and closes it ([fsutil.WriteFile]). It returns the size and SHA-256 of
// what was written. On error the file is removed.
func (s *FileStore) writeFile(ctx context.Context, path string, r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := fsutil.WriteFile(s.fs, path, io.TeeReader(ctxReader{ctx, r}, h))
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		return 0, "", writeError(filepath.Base(path), err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic replaces path with data: write a temporary file in tmp/,
// fsync it, rename it over path and fsync path's directory
// ([fsutil.Commit]). The temporary lives in tmp/ (same file system, emptied
// by Recover), so env/ only ever holds committed envelopes. Readers see the
// old or the new content, never a mix. renamed reports whether the rename
// happened (so the new content may be visible) even when err is not nil.
func (s *FileStore) writeAtomic(ctx context.Context, path string, data []byte) (renamed bool, err error) {
	tmp := s.tmpPath(filepath.Base(path))
	if _, _, err := s.writeFile(ctx, tmp, bytes.NewReader(data)); err != nil {
		return false, err
	}
	renamed, err = fsutil.Commit(s.fs, tmp, path)
	if err != nil {
		return renamed, writeError("commit", err)
	}
	return true, nil
}

// readFile reads a small file (an envelope), refusing oversized ones.
func (s *FileStore) readFile(path string) ([]byte, error) {
	f, err := s.fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxEnvelopeSize+1))
}

// readEnvelope reads and checks the stored envelope of id.
func (s *FileStore) readEnvelope(id string) (*Envelope, error) {
	data, err := s.readFile(s.envPath(id))
	if notExist(err) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read envelope %s: %w", id, err)
	}
	e, err := decodeEnvelope(data)
	if err != nil {
		return nil, err
	}
	if e.ID != id {
		return nil, fmt.Errorf("%w: envelope names id %q", ErrDamaged, trunc(e.ID))
	}
	return e, nil
}

func (s *FileStore) removeQuietly(path string) {
	if err := s.fs.Remove(path); err != nil && !notExist(err) {
		s.log.Warn("remove failed", zap.String("file", filepath.Base(path)), zap.Error(err))
	}
}
