package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// Spool subdirectories.
const (
	dirBody       = "body" // bodies too large to go inline in the log
	dirEnv        = "env"  // envelopes of the file-per-message format, imported at Recover
	dirTmp        = "tmp"
	dirQuarantine = "quarantine"
)

// FileStore is the embedded [Store]: one directory on a local file system.
// See the package documentation for the layout.
type FileStore struct {
	dir  string
	fs   fileSystem
	log  *zap.Logger
	lock *os.File

	// mu is held shared by every operation and exclusively by Recover and
	// compaction, so Recover never mistakes a Put in progress for an
	// orphan and compaction never copies a state being changed.
	mu sync.RWMutex

	w *wal // the log: every put, update, removal and quarantine

	imu sync.Mutex           // guards idx and the segments' refs
	idx map[string]*logEntry // the live messages
}

// logEntry is a live message in the index.
type logEntry struct {
	env    *Envelope // immutable once in the index: replaced, never changed
	put    *segment  // holds the put record (and the inline bodies)
	state  *segment  // holds the latest record that set the state
	inline []int64   // per body: offset in put's segment, or -1 for a file in body/
}

var _ Store = (*FileStore)(nil)

// NewFileStore opens (creating if needed) the spool in dir and locks it
// against a second process. It does not scan the spool: call Recover before
// accepting mail, or use [Open].
func NewFileStore(dir string, log *zap.Logger) (*FileStore, error) {
	return newFileStore(dir, log, osFS{})
}

// Open opens the spool in dir and runs [FileStore.Recover].
func Open(ctx context.Context, dir string, log *zap.Logger) (*FileStore, []Damaged, error) {
	s, err := NewFileStore(dir, log)
	if err != nil {
		return nil, nil, err
	}
	damaged, err := s.Recover(ctx)
	if err != nil {
		_ = s.Close()
		return nil, nil, err
	}
	return s, damaged, nil
}

func newFileStore(dir string, log *zap.Logger, fsys fileSystem) (*FileStore, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &FileStore{dir: dir, fs: fsys, log: log.Named("queue").With(zap.String("spool", dir))}
	for _, sub := range []string{dirBody, dirEnv, dirTmp, dirQuarantine, dirLog} {
		if err := fsys.MkdirAll(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("open spool %s: %w", dir, err)
		}
	}
	if err := fsys.SyncDir(dir); err != nil { // make a new layout durable
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if s.w, err = newWAL(s.sub(dirLog), fsys); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	s.idx = make(map[string]*logEntry)
	return s, nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open spool %s: locked by another process: %w", dir, err)
	}
	return f, nil
}

// Close releases the spool lock. Everything stored is already durable.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.w.close()
	if lerr := s.lock.Close(); err == nil { // closing drops the flock
		err = lerr
	}
	s.lock = nil
	return err
}

// Dir returns the spool directory.
func (s *FileStore) Dir() string { return s.dir }

func (s *FileStore) envPath(id string) string {
	return filepath.Join(s.dir, dirEnv, id+".json")
}

func (s *FileStore) bodyPath(id string, n int) string {
	return filepath.Join(s.dir, dirBody, id+"."+strconv.Itoa(n))
}

func (s *FileStore) sub(name string) string { return filepath.Join(s.dir, name) }

func (s *FileStore) tmpPath(name string) string {
	return filepath.Join(s.dir, dirTmp, name+"."+NewID()[:8])
}

func checkID(id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q", ErrNotFound, trunc(id))
	}
	return nil
}

func notExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
