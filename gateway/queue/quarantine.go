package queue

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// quarantineLocked sets message id aside: its envelope, bodies and a
// reason.txt are written to quarantine/<id>/ (file bodies are moved
// there), then a quarantine record takes it out of the log. A crash in
// between leaves the message live, so it is quarantined again.
func (s *FileStore) quarantineLocked(id, reason string) error {
	en, err := s.lookup(id)
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", id, err)
	}
	return s.quarantineEntry(en, reason)
}

func (s *FileStore) quarantineEntry(en *logEntry, reason string) error {
	id := en.env.ID
	qdir := filepath.Join(s.sub(dirQuarantine), id)
	if err := s.fs.MkdirAll(qdir); err != nil {
		return fmt.Errorf("quarantine %s: %w", id, err)
	}
	env, err := encodeEnvelope(en.env)
	if err != nil {
		return err
	}
	files := map[string][]byte{"reason.txt": []byte(reason + "\n"), id + ".json": env}
	for n, off := range en.inline {
		if off < 0 {
			err := s.fs.Rename(s.bodyPath(id, n), filepath.Join(qdir, filepath.Base(s.bodyPath(id, n))))
			if err != nil && !notExist(err) {
				return fmt.Errorf("quarantine %s: %w", id, err)
			}
			continue
		}
		b, err := s.readInline(en.put, off, en.env.Bodies[n].Size)
		if err != nil {
			return fmt.Errorf("quarantine %s: %w", id, err)
		}
		files[filepath.Base(s.bodyPath(id, n))] = b
	}
	for name, data := range files {
		if _, err := s.writeAtomic(context.Background(), filepath.Join(qdir, name), data); err != nil {
			return fmt.Errorf("quarantine %s: %w", id, err)
		}
	}
	for _, d := range []string{qdir, s.sub(dirQuarantine), s.sub(dirBody)} {
		if err := s.fs.SyncDir(d); err != nil {
			return fmt.Errorf("quarantine %s: fsync: %w", id, err)
		}
	}
	if err := s.removeEntry(en, opQuarantine, reason); err != nil {
		return fmt.Errorf("quarantine %s: %w", id, err)
	}
	s.log.Error("message quarantined", zap.String("id", id), zap.String("reason", reason), zap.String("path", qdir))
	return nil
}

// readInline reads size bytes at off of seg.
func (s *FileStore) readInline(seg *segment, off, size int64) ([]byte, error) {
	f, err := s.fs.Open(seg.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, off); err != nil && !(err == io.EOF && size == 0) {
		return nil, err
	}
	return b, nil
}

// quarantineLegacy moves the bodies and then the envelope of a message in
// the file-per-message format into quarantine/<id>/ with a reason.txt.
// Bodies go first: if a crash interrupts, the envelope is still in env/,
// so Recover finds the entry damaged again and finishes the move, and no
// body is taken for an orphan.
func (s *FileStore) quarantineLegacy(id, reason string) error {
	files, err := s.bodyFiles(id)
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", id, err)
	}
	if len(files) == 0 && !s.exists(s.envPath(id)) {
		return fmt.Errorf("quarantine %s: %w", id, ErrNotFound)
	}
	return s.quarantineFiles(id, append(files, s.envPath(id)), reason)
}

// bodyFiles lists body/<id>.* (it reads the directory, so damaged entries
// with gaps in their body numbers are found whole).
func (s *FileStore) bodyFiles(id string) ([]string, error) {
	entries, err := s.fs.ReadDir(s.sub(dirBody))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), id+".") {
			out = append(out, filepath.Join(s.sub(dirBody), de.Name()))
		}
	}
	return out, nil
}

// quarantineFiles moves files, in order, into quarantine/<key>/ after
// writing the reason there. Files already gone are skipped.
func (s *FileStore) quarantineFiles(key string, files []string, reason string) error {
	qdir := filepath.Join(s.sub(dirQuarantine), key)
	if err := s.fs.MkdirAll(qdir); err != nil {
		return fmt.Errorf("quarantine %s: %w", key, err)
	}
	if _, err := s.writeAtomic(context.Background(), filepath.Join(qdir, "reason.txt"), []byte(reason+"\n")); err != nil {
		return fmt.Errorf("quarantine %s: %w", key, err)
	}
	moved := 0
	for _, f := range files {
		err := s.fs.Rename(f, filepath.Join(qdir, filepath.Base(f)))
		if notExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("quarantine %s: %w", key, err)
		}
		moved++
	}
	for _, d := range []string{qdir, s.sub(dirQuarantine), s.sub(dirBody), s.sub(dirEnv)} {
		if err := s.fs.SyncDir(d); err != nil {
			return fmt.Errorf("quarantine %s: fsync: %w", key, err)
		}
	}
	if moved == 0 {
		return fmt.Errorf("quarantine %s: %w", key, ErrNotFound)
	}
	s.log.Error("message quarantined", zap.String("id", key), zap.String("reason", reason),
		zap.String("path", qdir))
	return nil
}

func (s *FileStore) exists(path string) bool {
	f, err := s.fs.Open(path)
	if err != nil {
		return !notExist(err)
	}
	_ = f.Close()
	return true
}
