package queue

import (
	"io"
	"os"
)

// fileSystem is the narrow set of operations the file store performs, so
// tests can inject faults (ENOSPC on write, fsync or rename) at every step.
type fileSystem interface {
	Create(name string) (file, error) // O_WRONLY|O_CREATE|O_EXCL, 0600
	Open(name string) (file, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	MkdirAll(name string) error
	ReadDir(name string) ([]os.DirEntry, error)
	SyncDir(name string) error
}

// file is the part of *os.File the store uses.
type file interface {
	io.ReadWriteCloser
	Sync() error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) Create(name string) (file, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

func (osFS) Open(name string) (file, error)             { return os.Open(name) }
func (osFS) Rename(oldpath, newpath string) error       { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                   { return os.Remove(name) }
func (osFS) MkdirAll(name string) error                 { return os.MkdirAll(name, 0o700) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
