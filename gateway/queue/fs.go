package queue

import (
	"io"
	"os"

	"passerelle/internal/fsutil"
)

// fileSystem is the narrow set of operations the file store performs, so
// tests can inject faults (ENOSPC on write, fsync or rename) at every step.
// The writes go through [fsutil], the one durability primitive.
type fileSystem interface {
	fsutil.FS // Create (O_EXCL, 0600), Rename, Link, Remove, SyncDir
	Open(name string) (file, error)
	MkdirAll(name string) error
	ReadDir(name string) ([]os.DirEntry, error)
}

// file is the part of *os.File the store reads.
type file interface {
	io.ReadWriteCloser
	io.ReaderAt
	Sync() error
}

// osFS is the real file system.
type osFS struct{ fsutil.OS }

func (osFS) Open(name string) (file, error)             { return os.Open(name) }
func (osFS) MkdirAll(name string) error                 { return os.MkdirAll(name, 0o700) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }
