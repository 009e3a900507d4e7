package keys

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"passerelle/internal/fsutil"
)

// syncLog is the real file system, recording which directories were
// fsynced.
type syncLog struct {
	fsutil.OS
	mu     sync.Mutex
	synced []string
}

func (l *syncLog) SyncDir(name string) error {
	l.mu.Lock()
	l.synced = append(l.synced, name)
	l.mu.Unlock()
	return l.OS.SyncDir(name)
}

// TestPuppetKeyDirSynced is M2: a new puppet key lives in puppets/, so that
// directory (not keys.dir) must be fsynced, or a crash can drop the entry
// and the next mail makes a second key for the same correspondent.
func TestPuppetKeyDirSynced(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, err := s.InitDomainKey("mail.example.org", testNow); err != nil {
		t.Fatal(err)
	}
	rec := &syncLog{}
	s.fs = rec
	if _, err := s.PuppetKey(context.Background(), `bob\40example.net@mail.example.org`); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, puppetDir)
	for _, d := range rec.synced {
		if d == want {
			return
		}
	}
	t.Fatalf("directories fsynced %v, want %s", rec.synced, want)
}
