package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/zap/zaptest"

	"passerelle/internal/fsutil"
)

// faultFS counts every file system operation and fails the failAt-th with
// err. With crash set, that operation and every later one fail, as if the
// machine stopped there (no cleanup reaches the disk).
type faultFS struct {
	osFS
	armed   bool // set after the store is opened
	mu      sync.Mutex
	n       int
	failAt  int
	crash   bool
	err     error
	firedOp string
}

// step counts an operation and returns the injected error, if it is due.
func (f *faultFS) step(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed {
		return nil
	}
	f.n++
	if f.n == f.failAt {
		f.firedOp = op
		return f.err
	}
	if f.crash && f.firedOp != "" {
		return f.err
	}
	return nil
}

func (f *faultFS) Create(name string) (fsutil.File, error) {
	if err := f.step("create"); err != nil {
		return nil, err
	}
	fl, err := f.osFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: fl, fs: f}, nil
}

func (f *faultFS) Rename(o, n string) error {
	if err := f.step("rename"); err != nil {
		return err
	}
	return f.osFS.Rename(o, n)
}

func (f *faultFS) Remove(name string) error {
	if err := f.step("remove"); err != nil {
		return err
	}
	return f.osFS.Remove(name)
}

func (f *faultFS) SyncDir(name string) error {
	if err := f.step("fsync-dir"); err != nil {
		return err
	}
	return f.osFS.SyncDir(name)
}

type faultFile struct {
	fsutil.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.step("write"); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fs.step("fsync"); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.step("truncate"); err != nil {
		return err
	}
	return f.File.(interface{ Truncate(int64) error }).Truncate(size)
}

func (f *faultFile) Close() error {
	err := f.fs.step("close")
	cerr := f.File.Close() // never leak the descriptor
	if err != nil {
		return err
	}
	return cerr
}

// largeCipher is too large to go inline in the log: it is a file in body/.
var largeCipher = cipherText + strings.Repeat("\x00", inlineMax)

// putTwoBodies is the Put every fault test runs: one body inline in the
// log record, one large enough to be a file of its own.
func putTwoBodies(s *FileStore) (*Envelope, error) {
	e := testEnvelope("bob@example.net", "carol@example.net")
	e.Bodies = append(e.Bodies, Body{Kind: BodyOpaque})
	e.Recipients[1].Body = 1
	err := s.Put(context.Background(), e, strings.NewReader(plainMessage), strings.NewReader(largeCipher))
	return e, err
}

func (f *faultFS) disarm() {
	f.mu.Lock()
	f.armed = false
	f.mu.Unlock()
}

// TestPutFaultAtEveryStep fails each operation of Put in turn with ENOSPC:
// Put must return an error wrapping ErrSpoolFull and leave nothing behind.
func TestPutFaultAtEveryStep(t *testing.T) {
	fired := map[string]bool{}
	for k := 1; ; k++ {
		dir := t.TempDir()
		fsys := &faultFS{failAt: k, err: syscall.ENOSPC}
		s, err := newFileStore(dir, zaptest.NewLogger(t), fsys)
		if err != nil {
			t.Fatal(err)
		}
		fsys.armed = true
		_, err = putTwoBodies(s)
		fsys.disarm()
		_ = s.Close()
		if fsys.firedOp == "" {
			if err != nil {
				t.Fatalf("Put with no fault: %v", err)
			}
			t.Logf("Put has %d fallible steps", k-1)
			break
		}
		fired[fsys.firedOp] = true
		if !errors.Is(err, ErrSpoolFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("step %d (%s): err = %v, want ErrSpoolFull wrapping ENOSPC", k, fsys.firedOp, err)
		}
		assertNoEntry(t, dir)
	}
	for _, op := range []string{"create", "write", "fsync", "close", "fsync-dir"} {
		if !fired[op] {
			t.Errorf("no fault was injected on %s", op)
		}
	}
}

// TestPutCrashAtEveryStep stops the world at each step of Put. After a
// restart nothing is damaged, and the message is either absent or whole.
func TestPutCrashAtEveryStep(t *testing.T) {
	for k := 1; ; k++ {
		dir := t.TempDir()
		fsys := &faultFS{failAt: k, crash: true, err: syscall.EIO}
		s, err := newFileStore(dir, zaptest.NewLogger(t), fsys)
		if err != nil {
			t.Fatal(err)
		}
		fsys.armed = true
		e, err := putTwoBodies(s)
		fsys.disarm()
		_ = s.Close()
		if fsys.firedOp == "" {
			break
		}
		if err == nil {
			t.Fatalf("step %d (%s): Put acknowledged despite the crash", k, fsys.firedOp)
		}
		if !errors.Is(err, ErrTemporary) {
			t.Errorf("step %d: err = %v, want ErrTemporary", k, err)
		}
		t.Run(fmt.Sprintf("step%d-%s", k, fsys.firedOp), func(t *testing.T) {
			checkAfterCrash(t, dir, e)
		})
	}
}

func checkAfterCrash(t *testing.T, dir string, e *Envelope) {
	s := newTestStore(t, dir) // fails on any damaged entry
	msgs, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	switch len(msgs) {
	case 0:
		assertNoEntry(t, dir)
	case 1: // crashed after the commit point: whole, and delivered at most twice
		if readBody(t, s, msgs[0].ID, 0) != plainMessage || readBody(t, s, msgs[0].ID, 1) != largeCipher {
			t.Error("message after crash is not whole")
		}
	default:
		t.Fatalf("%d messages after crash", len(msgs))
	}
	if q := listDir(t, dir, dirQuarantine); len(q) != 0 {
		t.Errorf("quarantine after crash: %v", q)
	}
}

func TestWriteErrorClass(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"ENOSPC", syscall.ENOSPC, ErrSpoolFull},
		{"EDQUOT", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, ErrSpoolFull},
		{"EIO", syscall.EIO, ErrTemporary},
		{"already classified", fmt.Errorf("x: %w", ErrSpoolFull), ErrSpoolFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := writeError("write", tt.err)
			if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
				t.Errorf("writeError(%v) = %v, want %v wrapping the cause", tt.err, got, tt.want)
			}
		})
	}
}
