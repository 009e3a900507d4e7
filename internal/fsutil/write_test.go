package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// faultFS runs on the real file system, logs every operation, and fails
// the failAt-th one with err. With crash set, every later operation fails
// too, as if the machine stopped there (no cleanup reaches the disk).
type faultFS struct {
	OS
	mu     sync.Mutex
	n      int
	failAt int
	crash  bool
	err    error
	fired  string
	log    []string // "op path"
}

func (f *faultFS) step(op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n == f.failAt {
		f.fired = op
		return f.err
	}
	if f.crash && f.fired != "" {
		return f.err
	}
	f.log = append(f.log, op+" "+path)
	return nil
}

func (f *faultFS) Create(name string) (File, error) {
	if err := f.step("create", name); err != nil {
		return nil, err
	}
	fl, err := f.OS.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: fl, fs: f, name: name}, nil
}

func (f *faultFS) Rename(o, n string) error {
	if err := f.step("rename", n); err != nil {
		return err
	}
	return f.OS.Rename(o, n)
}

func (f *faultFS) Link(o, n string) error {
	if err := f.step("link", n); err != nil {
		return err
	}
	return f.OS.Link(o, n)
}

func (f *faultFS) Remove(name string) error {
	if err := f.step("remove", name); err != nil {
		return err
	}
	return f.OS.Remove(name)
}

func (f *faultFS) SyncDir(name string) error {
	if err := f.step("fsync-dir", name); err != nil {
		return err
	}
	return f.OS.SyncDir(name)
}

type faultFile struct {
	File
	fs   *faultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.step("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fs.step("fsync", f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Close() error {
	err := f.fs.step("close", f.name)
	cerr := f.File.Close()
	if err != nil {
		return err
	}
	return cerr
}

// op is one primitive under test, writing "new" to dir/sub/target.
type op struct {
	name     string
	keepsOld bool // a failure leaves the old content (else: absent)
	run      func(fsys FS, dir string) error
}

const target = "sub/target"

var ops = []op{
	{"WriteAtomic", true, func(fsys FS, dir string) error {
		return WriteAtomic(fsys, dir, target, []byte("new"))
	}},
	{"WriteAtomicFunc", true, func(fsys FS, dir string) error {
		return WriteAtomicFunc(fsys, filepath.Join(dir, target), func(w io.Writer) error {
			_, err := io.WriteString(w, "new")
			return err
		})
	}},
	{"CreateNew", false, func(fsys FS, dir string) error {
		return CreateNew(fsys, dir, target, []byte("new"))
	}},
}

func setup(t *testing.T, o op) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if o.keepsOld {
		if err := os.WriteFile(filepath.Join(dir, target), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFaultAtEveryStep fails each step of each primitive in turn. Every
// failure is reported wrapping the injected error, the target holds the
// old content (or is absent), and no temporary file is left.
func TestFaultAtEveryStep(t *testing.T) {
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			for k := 1; ; k++ {
				dir := setup(t, o)
				fsys := &faultFS{failAt: k, err: syscall.ENOSPC}
				err := o.run(fsys, dir)
				if fsys.fired == "" {
					if err != nil {
						t.Fatalf("no fault: %v", err)
					}
					checkContent(t, dir, "new")
					checkNoTemps(t, dir)
					t.Logf("%d fallible steps", k-1)
					break
				}
				if fsys.fired == "remove" { // cleanup of a linked temp: harmless
					continue
				}
				if fsys.fired == "fsync-dir" && err != nil {
					// the name is in place but maybe not durable: the
					// caller must treat it as not acknowledged.
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("step %d (%s): err = %v", k, fsys.fired, err)
					}
					continue
				}
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("step %d (%s): err = %v, want ENOSPC", k, fsys.fired, err)
				}
				if o.keepsOld {
					checkContent(t, dir, "old")
				} else {
					checkContent(t, dir, "")
				}
				checkNoTemps(t, dir)
			}
		})
	}
}

// TestDurableOrder checks the order of a successful run against what a
// crash could keep: the data is fsynced before its name appears, and the
// target's own directory (dir/sub, not dir) is fsynced after the name
// appears. It is the check the puppet key store failed (M2).
func TestDurableOrder(t *testing.T) {
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			dir := setup(t, o)
			fsys := &faultFS{}
			if err := o.run(fsys, dir); err != nil {
				t.Fatal(err)
			}
			synced, named, dirSynced := -1, -1, -1
			want := filepath.Join(dir, target)
			for i, l := range fsys.log {
				op, path, _ := strings.Cut(l, " ")
				switch {
				case op == "fsync" && synced < 0:
					synced = i
					if filepath.Dir(path) != filepath.Dir(want) {
						t.Errorf("temporary %s is not in the target's directory", path)
					}
				case (op == "rename" || op == "link") && path == want:
					named = i
				case op == "fsync-dir" && path == filepath.Dir(want) && named >= 0:
					dirSynced = i
				}
			}
			if synced < 0 || named < 0 || synced > named {
				t.Errorf("data not fsynced before its name appeared: %v", fsys.log)
			}
			if dirSynced < 0 {
				t.Errorf("the target's directory %s was never fsynced after the name appeared: %v", filepath.Dir(want), fsys.log)
			}
		})
	}
}

// TestCrashAtEveryStep stops the world at each step: whatever was on the
// real disk then is the old or the new content, never a mix or nothing
// (for CreateNew: absent or new).
func TestCrashAtEveryStep(t *testing.T) {
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			for k := 1; ; k++ {
				dir := setup(t, o)
				fsys := &faultFS{failAt: k, crash: true, err: syscall.EIO}
				err := o.run(fsys, dir)
				if fsys.fired == "" {
					break
				}
				got := readTarget(t, dir)
				ok := got == "new" || (o.keepsOld && got == "old") || (!o.keepsOld && got == "")
				if !ok {
					t.Fatalf("step %d (%s): target = %q", k, fsys.fired, got)
				}
				if err == nil && fsys.fired != "remove" {
					t.Fatalf("step %d (%s): success reported despite the crash", k, fsys.fired)
				}
			}
		})
	}
}

func TestCreateNewExists(t *testing.T) {
	dir := t.TempDir()
	if err := CreateNew(OS{}, dir, "f", []byte("a")); err != nil {
		t.Fatal(err)
	}
	err := CreateNew(OS{}, dir, "f", []byte("b"))
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("second CreateNew: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "a" {
		t.Fatalf("content %q replaced", b)
	}
	checkNoTemps(t, dir)
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "threads.log")
	for _, n := range []string{".threads.log.tmp-1", ".threads.log.tmp-2", "threads.log", ".other.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	RemoveTemps(OS{}, p)
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "[.other.tmp-1 threads.log]" {
		t.Fatalf("left %v", names)
	}
}

func readTarget(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, target))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkContent(t *testing.T, dir, want string) {
	t.Helper()
	if got := readTarget(t, dir); got != want {
		t.Fatalf("target = %q, want %q", got, want)
	}
}

func checkNoTemps(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Join(dir, "sub")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.Contains(e.Name(), TempSuffix) {
				t.Fatalf("temporary %s left in %s", e.Name(), d)
			}
		}
	}
}
