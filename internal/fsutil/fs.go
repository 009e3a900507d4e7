package fsutil

import (
	"io"
	"os"
)

// FS is the set of file system operations the primitives perform. [OS] is
// the real one; tests wrap it to fail or "crash" at any step.
type FS interface {
	// Create creates name exclusively (O_WRONLY|O_CREATE|O_EXCL), mode 0600.
	Create(name string) (File, error)
	Rename(oldpath, newpath string) error
	Link(oldname, newname string) error
	Remove(name string) error
	// SyncDir fsyncs the directory name, so entries created, renamed or
	// removed in it survive a crash.
	SyncDir(name string) error
}

// File is the part of *os.File a write needs.
type File interface {
	io.Writer
	io.Closer
	Sync() error
}

// OS is the real file system.
type OS struct{}

var _ FS = OS{}

func (OS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (OS) Link(oldname, newname string) error   { return os.Link(oldname, newname) }
func (OS) Remove(name string) error             { return os.Remove(name) }

func (OS) SyncDir(name string) error {
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
