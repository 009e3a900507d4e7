package fsutil

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempSuffix marks the temporary files of this package: a target
// dir/name is written as dir/.name.tmp-<random> first. A crash can leave
// one behind; [RemoveTemps] clears them for a file with a single owner.
const TempSuffix = ".tmp-"

// WriteFile creates path (it must not exist), copies r into it, fsyncs and
// closes it. It returns the bytes written. On error the file is removed.
// It does not sync the directory: the caller commits the name
// ([Commit], [CreateNew]) or syncs it.
func WriteFile(fsys FS, path string, r io.Reader) (int64, error) {
	var n int64
	err := writeWith(fsys, path, func(w io.Writer) (err error) {
		n, err = io.Copy(w, r)
		return err
	})
	return n, err
}

// writeWith creates path exclusively, lets fill write it, then fsyncs and
// closes it; on error the file is removed.
func writeWith(fsys FS, path string, fill func(w io.Writer) error) error {
	base := filepath.Base(path)
	f, err := fsys.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", base, err)
	}
	if err = fill(f); err != nil {
		err = fmt.Errorf("write %s: %w", base, err)
	} else if err = f.Sync(); err != nil {
		err = fmt.Errorf("fsync %s: %w", base, err)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", base, cerr)
	}
	if err != nil {
		_ = fsys.Remove(path)
		return err
	}
	return nil
}

// Commit renames the synced file tmp over path and fsyncs path's
// directory. renamed reports whether the rename happened (the new content
// may then be visible, and may survive a crash) even when err is not nil.
// tmp must be on the same file system; it is removed if the rename fails.
func Commit(fsys FS, tmp, path string) (renamed bool, err error) {
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return false, fmt.Errorf("rename into %s: %w", filepath.Base(path), err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return true, fmt.Errorf("fsync dir of %s: %w", filepath.Base(path), err)
	}
	return true, nil
}

// WriteAtomic replaces dir/name (name may hold subdirectories) with data:
// a temporary file in the target's own directory, write, fsync, rename,
// fsync that directory. Readers see the old or the new content, never a
// mix; after a crash the file is the old or the new one.
func WriteAtomic(fsys FS, dir, name string, data []byte) error {
	return WriteAtomicFrom(fsys, filepath.Join(dir, name), bytes.NewReader(data))
}

// WriteAtomicFrom is [WriteAtomic] for the content of r, written to path.
func WriteAtomicFrom(fsys FS, path string, r io.Reader) error {
	tmp, err := tempName(path)
	if err != nil {
		return err
	}
	if _, err := WriteFile(fsys, tmp, r); err != nil {
		return err
	}
	_, err = Commit(fsys, tmp, path)
	return err
}

// WriteAtomicFunc is [WriteAtomic] for content that fill writes, through
// a buffer that is flushed before the fsync.
func WriteAtomicFunc(fsys FS, path string, fill func(w io.Writer) error) error {
	tmp, err := tempName(path)
	if err != nil {
		return err
	}
	err = writeWith(fsys, tmp, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		if err := fill(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	_, err = Commit(fsys, tmp, path)
	return err
}

// CreateNew creates dir/name with data only if it does not exist yet: a
// synced temporary file in the target's own directory is hard-linked to the
// name (link never replaces), the temporary is removed, and the target's
// directory is fsynced. Two writers never replace each other's file. It
// returns an error wrapping [os.ErrExist] when the name is taken.
func CreateNew(fsys FS, dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp, err := tempName(path)
	if err != nil {
		return err
	}
	if _, err := WriteFile(fsys, tmp, bytes.NewReader(data)); err != nil {
		return err
	}
	err = fsys.Link(tmp, path)
	_ = fsys.Remove(tmp)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", name, os.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("link into %s: %w", name, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("fsync dir of %s: %w", name, err)
	}
	return nil
}

// SyncDir fsyncs dir with the error wrapped.
func SyncDir(fsys FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// OpenAppend opens path for appending, creating it (mode 0600) if needed,
// and fsyncs its directory so a newly created file survives a crash.
// Appended records are made durable by the caller's own File.Sync.
func OpenAppend(fsys FS, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	if err := SyncDir(fsys, filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// RemoveTemps removes the temporary files a crash left behind for path.
// Call it only where one process owns path (at open, before any write).
func RemoveTemps(fsys FS, path string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+TempSuffix+"*"))
	for _, m := range matches {
		_ = fsys.Remove(m)
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func tempName(path string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("temp name: %w", err)
	}
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+TempSuffix+hex.EncodeToString(b[:])), nil
}

// MkdirAll creates path (mode 0700) and its parents as needed and fsyncs
// path's parent, so a directory just created survives a crash with its
// entry.
func MkdirAll(fsys FS, path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return SyncDir(fsys, filepath.Dir(path))
}
