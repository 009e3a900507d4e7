package peertrust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"passerelle/bridge/peerrec"
	"passerelle/internal/fsutil"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fpr(b byte) []byte { return bytes.Repeat([]byte{b}, 20) }

func rec(fp []byte, ttl time.Duration) peerrec.Record {
	return peerrec.Record{JID: "mail.b.example", Fingerprint: fp, Policy: peerrec.Strict, TTL: ttl}
}

type env struct {
	t     *testing.T
	dir   string
	clock *clock
	store *Store
	c     *Checker
	logs  *observer.ObservedLogs
}

func newEnv(t *testing.T, def Mode, doms map[string]Domain) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := OpenStore(filepath.Join(dir, "peers", "peers.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	e := &env{t: t, dir: dir, clock: &clock{now: t0}, store: st, logs: logs}
	e.c, err = New(Config{Default: def, Domains: doms, Store: st, Log: zap.New(core), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// faultFS fails the first operation named fail (after skip successful
// ones); crash makes Remove fail too, so a temporary file stays behind as
// after a real crash.
type faultFS struct {
	fsutil.OS
	fail  string
	crash bool
}

var errInjected = errors.New("injected fault")

func (f *faultFS) Create(name string) (fsutil.File, error) {
	if f.fail == "create" {
		return nil, errInjected
	}
	file, err := f.OS.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Rename(o, n string) error {
	if f.fail == "rename" {
		return errInjected
	}
	return f.OS.Rename(o, n)
}

func (f *faultFS) Remove(name string) error {
	if f.crash {
		return errInjected
	}
	return f.OS.Remove(name)
}

func (f *faultFS) SyncDir(name string) error {
	if f.fail == "syncdir" {
		return errInjected
	}
	return f.OS.SyncDir(name)
}

type faultFile struct {
	fsutil.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.fail == "write" {
		return 0, errInjected
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fs.fail == "sync" {
		return errInjected
	}
	return f.File.Sync()
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+fsutil.TempSuffix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}
