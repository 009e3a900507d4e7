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
	th, err := OpenThreads(path, 10, nil)
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
	th, err = OpenThreads(path, 10, nil)
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
	th, err := OpenThreads(path, 10, nil)
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
	th, err = OpenThreads(path, 10, nil)
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
