package reverse

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestThreadsPersistAndCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "threads.log")
	th, err := OpenThreads(path, 10, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := th.Record(t.Context(), "p@c", "u@l", fmt.Sprintf("t%d", i), fmt.Sprintf("m%d@x", i), []string{"r@x"}); err != nil {
			t.Fatal(err)
		}
	}
	if e, ok := th.ByThread("t29"); !ok || e.MessageID != "m29@x" || e.References[0] != "r@x" {
		t.Fatalf("ByThread = %+v %v", e, ok)
	}
	th.Close()
	if err := os.WriteFile(path+".junk", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("not json\n")
	f.Close()
	th, err = OpenThreads(path, 10, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	if e, ok := th.Last("p@c", "u@l"); !ok || e.MessageID != "m29@x" {
		t.Fatalf("Last after reopen = %+v %v", e, ok)
	}
	if _, ok := th.Last("p@c", "other@l"); ok {
		t.Fatal("Last for another pair")
	}
	if len(th.thread) > 10 {
		t.Fatalf("%d threads kept, max 10", len(th.thread))
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "u@l") || strings.Contains(string(b), "p@c") {
		t.Error("correspondents stored in the clear")
	}
}

// TestThreadsCompactWhileRunning is L1: a long-running gateway fed mail
// with distinct Message-IDs must not grow the file without bound; it
// compacts (atomically, with the directory synced) once the file holds
// twice what is live, and the entries survive a reopen.
func TestThreadsCompactWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "threads.log")
	th, err := OpenThreads(path, 10, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	th.slack = 5
	maxLines := 0
	for i := range 500 {
		if err := th.Record(t.Context(), "p@c", "u@l", fmt.Sprintf("t%d", i), fmt.Sprintf("m%d@x", i), nil); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		maxLines = max(maxLines, strings.Count(string(b), "\n"))
	}
	// live: at most 10 threads and 1 pair; bound 2*(11)+5 plus the line
	// that triggers a compaction.
	if maxLines > 2*11+5+1 {
		t.Fatalf("file reached %d lines while running, want <= %d", maxLines, 2*11+6)
	}
	if err := th.Record(t.Context(), "p@c", "u@l", "last", "last@x", nil); err != nil {
		t.Fatal(err)
	}
	th.Close()
	th, err = OpenThreads(path, 10, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	if e, ok := th.ByThread("last"); !ok || e.MessageID != "last@x" {
		t.Fatalf("entry written after a compaction lost: %+v %v", e, ok)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d files, want only threads.log", len(ents))
	}
}

var testThreadKey = []byte("0123456789abcdef0123456789abcdef")

// TestThreadsSealed is A3/L2: the file names no correspondent, thread or
// Message-ID in clear; the same install secret reads it back, another
// does not; a file from before the install secret still loads its
// threads, and is rewritten at once without the clear values.
func TestThreadsSealed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "threads.log")
	th, err := OpenThreads(path, 0, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := th.Record(t.Context(), `bob\40other.example@gw`, "alice@example.org", "thr1", "f1a-1@other.example", []string{"root@other.example"}); err != nil {
		t.Fatal(err)
	}
	th.Close()
	b, _ := os.ReadFile(path)
	for _, clear := range []string{"other.example", "alice", "thr1", "root@"} {
		if strings.Contains(string(b), clear) {
			t.Errorf("file holds %q in clear: %s", clear, b)
		}
	}
	th, err = OpenThreads(path, 0, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := th.ByThread("thr1")
	if !ok || e.MessageID != "f1a-1@other.example" || e.References[0] != "root@other.example" {
		t.Fatalf("ByThread after reopen = %+v %v", e, ok)
	}
	if e, ok := th.Last(`bob\40other.example@gw`, "alice@example.org"); !ok || e.MessageID != "f1a-1@other.example" {
		t.Fatalf("Last after reopen = %+v %v", e, ok)
	}
	th.Close()
	other, err := OpenThreads(path, 0, []byte("another install's secret.........."), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := other.ByThread("thr1"); ok {
		t.Error("another secret opened the entries")
	}
	other.Close()

	legacy := filepath.Join(t.TempDir(), "threads.log")
	old := `{"th":"oldthread","p":"0123abcd","id":"old-1@legacy.example","refs":["r@legacy.example"],"t":"2026-01-01T00:00:00Z"}` + "\n"
	if err := os.WriteFile(legacy, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	th, err = OpenThreads(legacy, 0, testThreadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	if e, ok := th.ByThread("oldthread"); !ok || e.MessageID != "old-1@legacy.example" {
		t.Fatalf("legacy thread not migrated: %+v %v", e, ok)
	}
	b, _ = os.ReadFile(legacy)
	if strings.Contains(string(b), "legacy.example") || strings.Contains(string(b), "oldthread") {
		t.Errorf("legacy clear values still in the file: %s", b)
	}
}
