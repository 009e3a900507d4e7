package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

func (s *FileStore) clearTmp() error {
	entries, err := s.fs.ReadDir(s.sub(dirTmp))
	if err != nil {
		return fmt.Errorf("recover spool: %w", err)
	}
	for _, de := range entries {
		s.removeQuietly(filepath.Join(s.sub(dirTmp), de.Name()))
	}
	return nil
}

// checkEnvelopes checks the envelopes of the file-per-message format
// (env/<id>.json with body/<id>.<n>, written before the log): it returns
// the number of bodies of every sound entry by id, for import, and the
// entries it quarantined.
func (s *FileStore) checkEnvelopes(ctx context.Context) (map[string]int, []Damaged, error) {
	entries, err := s.fs.ReadDir(s.sub(dirEnv))
	if err != nil {
		return nil, nil, fmt.Errorf("recover spool: %w", err)
	}
	live := make(map[string]int)
	var damaged []Damaged
	for _, de := range entries {
		if err := ctx.Err(); err != nil {
			return nil, damaged, err
		}
		id, reason, env := s.checkEntry(de.Name())
		if reason == "" {
			live[id] = len(env.Bodies)
			continue
		}
		d, err := s.quarantineLegacyEntry(de.Name(), id, reason)
		if err != nil {
			return nil, damaged, err
		}
		d.Envelope = env
		damaged = append(damaged, d)
	}
	return live, damaged, nil
}

// checkEntry checks env/<name> and its bodies. reason is empty if the
// entry is sound; e is its envelope whenever that could be read (a damaged
// body leaves it readable, so the sender can be told).
func (s *FileStore) checkEntry(name string) (id, reason string, e *Envelope) {
	id, ok := strings.CutSuffix(name, ".json")
	if !ok || !validID(id) {
		return "", "unexpected file in env/", nil
	}
	e, err := s.readEnvelope(id)
	if err != nil {
		return id, err.Error(), nil
	}
	for n, b := range e.Bodies {
		if err := s.checkBody(id, n, b); err != nil {
			return id, err.Error(), e
		}
	}
	return id, "", e
}

func (s *FileStore) quarantineLegacyEntry(name, id, reason string) (Damaged, error) {
	if id == "" {
		key := "env-" + name
		err := s.quarantineFiles(key, []string{filepath.Join(s.sub(dirEnv), name)}, reason)
		return Damaged{ID: key, Reason: reason}, err
	}
	return Damaged{ID: id, Reason: reason}, s.quarantineLegacy(id, reason)
}

// checkBody verifies body n of id against its recorded size and SHA-256.
func (s *FileStore) checkBody(id string, n int, b Body) error {
	f, err := s.fs.Open(s.bodyPath(id, n))
	if notExist(err) {
		return fmt.Errorf("%w: body %d missing", ErrDamaged, n)
	}
	if err != nil {
		return fmt.Errorf("%w: body %d: %w", ErrDamaged, n, err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	switch {
	case err != nil:
		return fmt.Errorf("%w: body %d: %w", ErrDamaged, n, err)
	case size != b.Size:
		return fmt.Errorf("%w: body %d is %d bytes, want %d", ErrDamaged, n, size, b.Size)
	case hex.EncodeToString(h.Sum(nil)) != b.SHA256:
		return fmt.Errorf("%w: body %d sha256 mismatch", ErrDamaged, n)
	}
	return nil
}

// removeOrphans deletes body/<id>.<n> files that no live message claims
// (keep says which are claimed). Files whose names are not ours are left
// alone and logged.
func (s *FileStore) removeOrphans(keep func(id string, n int) bool) error {
	entries, err := s.fs.ReadDir(s.sub(dirBody))
	if err != nil {
		return fmt.Errorf("recover spool: %w", err)
	}
	removed := 0
	for _, de := range entries {
		id, n, ok := parseBodyName(de.Name())
		if !ok {
			s.log.Warn("unexpected file in spool", zap.String("file", de.Name()))
			continue
		}
		if keep(id, n) {
			continue
		}
		s.removeQuietly(filepath.Join(s.sub(dirBody), de.Name()))
		removed++
	}
	if removed > 0 {
		s.log.Info("removed orphan bodies", zap.Int("files", removed))
		return s.syncDir(dirBody)
	}
	return nil
}

func (s *FileStore) syncDir(sub string) error {
	if err := s.fs.SyncDir(s.sub(sub)); err != nil {
		return fmt.Errorf("fsync %s: %w", sub, err)
	}
	return nil
}

func parseBodyName(name string) (id string, n int, ok bool) {
	id, num, ok := strings.Cut(name, ".")
	if !ok || !validID(id) {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strconv.Itoa(n) != num {
		return "", 0, false
	}
	return id, n, true
}
