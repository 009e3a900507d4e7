package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// quarantineLocked moves the bodies and then the envelope of id into
// quarantine/<id>/ with a reason.txt. Bodies go first: if a crash
// interrupts, the envelope is still in env/, so Recover finds the entry
// damaged again and finishes the move, and no body is taken for an orphan.
func (s *FileStore) quarantineLocked(id, reason string) error {
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
