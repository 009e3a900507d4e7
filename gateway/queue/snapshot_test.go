package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSnapshotWhileOpen(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir) // holds the lock, as a running gateway does
	a := testEnvelope("bob@example.net")
	mustPut(t, st, a, plainMessage)
	b := testEnvelope("carol@example.net", "dave@example.net")
	mustPut(t, st, b, plainMessage)
	if err := os.WriteFile(filepath.Join(dir, dirEnv, "zzzz.json"), []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	envs, damaged, err := Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != 2 || envs[0].ID != a.ID || len(envs[1].Recipients) != 2 {
		t.Fatalf("snapshot = %d envelopes, first %v", len(envs), envs)
	}
	if len(damaged) != 1 || damaged[0].ID != "zzzz" {
		t.Fatalf("damaged = %v", damaged)
	}
	if _, err := os.Stat(filepath.Join(dir, dirEnv, "zzzz.json")); err != nil {
		t.Fatal("Snapshot moved or removed a file")
	}
	if _, _, err := Snapshot(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing spool: %v", err)
	}
}
