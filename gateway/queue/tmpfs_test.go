package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"go.uber.org/zap/zaptest"
)

// TestPutOnFullTmpfs fills a real 64 KiB tmpfs. It needs root (CI runs as
// root) and is skipped otherwise.
func TestPutOnFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	s, _, err := Open(context.Background(), dir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() }) // runs before the unmount

	big := testEnvelope("bob@example.net")
	err = s.Put(context.Background(), big, bytes.NewReader(make([]byte, 1<<20)))
	if !errors.Is(err, ErrSpoolFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put of 1 MiB on a 64 KiB spool: err = %v, want ErrSpoolFull", err)
	}
	assertNoEntry(t, dir)

	small := testEnvelope("bob@example.net")
	mustPut(t, s, small, plainMessage) // the failed Put freed its space
	msgs, err := s.Load(context.Background())
	if err != nil || len(msgs) != 1 || msgs[0].ID != small.ID {
		t.Fatalf("Load = %v, %v", msgs, err)
	}
}
