package reverse

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

// Bounds of the thread store.
const (
	DefaultMaxThreads = 100000 // entries kept per index
	maxRefs           = 20     // References kept per entry (root and the latest)
	maxLineBytes      = 64 << 10
)

// Entry is one forwarded mail as a reply needs it.
type Entry struct {
	MessageID  string    `json:"id"`
	References []string  `json:"refs,omitempty"`
	Time       time.Time `json:"t"`
}

// record is one line of the store file.
type record struct {
	Thread string `json:"th,omitempty"`
	Pair   string `json:"p,omitempty"` // hash of puppet and user
	Entry
}

// Threads maps XMPP threads, and each (puppet, user) pair, to the last mail
// forwarded in them. It is an append-only file of JSON lines, read into
// memory at open and compacted when it has grown to twice what is live.
// The file holds Message-IDs and opaque thread ids; correspondents appear
// only as hashes. A record lost in a crash costs only threading. It is safe
// for concurrent use.
type Threads struct {
	path  string
	max   int
	slack int // dead lines tolerated beyond the live ones before compacting
	log   *zap.Logger

	mu     sync.Mutex
	f      *os.File
	lines  int
	thread map[string]Entry
	pair   map[string]Entry
}

// OpenThreads opens (or creates) the store at path; max bounds each index
// (0: DefaultMaxThreads).
func OpenThreads(path string, max int, log *zap.Logger) (*Threads, error) {
	if max <= 0 {
		max = DefaultMaxThreads
	}
	if log == nil {
		log = zap.NewNop()
	}
	t := &Threads{path: path, max: max, slack: 1000, log: log.Named("threads"),
		thread: map[string]Entry{}, pair: map[string]Entry{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open thread store: %w", err)
	}
	fsutil.RemoveTemps(fsutil.OS{}, path) // a compaction cut short by a crash
	if err := t.load(); err != nil {
		return nil, err
	}
	if t.overgrown() {
		if err := t.compact(); err != nil {
			return nil, err
		}
	}
	f, err := fsutil.OpenAppend(fsutil.OS{}, path)
	if err != nil {
		return nil, fmt.Errorf("open thread store: %w", err)
	}
	t.f = f
	return t, nil
}

// overgrown reports whether the file holds more than twice the live
// entries (plus some slack). t.mu is held or t is not shared yet.
func (t *Threads) overgrown() bool {
	return t.lines > 2*(len(t.thread)+len(t.pair))+t.slack
}

func (t *Threads) load() error {
	f, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open thread store: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxLineBytes)
	bad := 0
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.MessageID == "" {
			bad++
			continue
		}
		t.lines++
		t.apply(r)
	}
	if err := sc.Err(); err != nil {
		t.log.Warn("thread store read stopped early", zap.Error(err))
	}
	if bad > 0 {
		t.log.Warn("thread store lines skipped", zap.Int("lines", bad))
	}
	return nil
}

func (t *Threads) apply(r record) {
	if r.Thread != "" {
		t.thread[r.Thread] = r.Entry
		evict(t.thread, t.max)
	}
	if r.Pair != "" {
		t.pair[r.Pair] = r.Entry
		evict(t.pair, t.max)
	}
}

// evict drops the oldest entries of m, down to nine tenths of max, once it
// is over max.
func evict(m map[string]Entry, max int) {
	if len(m) <= max {
		return
	}
	type aged struct {
		key string
		t   time.Time
	}
	all := make([]aged, 0, len(m))
	for k, e := range m {
		all = append(all, aged{k, e.Time})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.t.Compare(b.t) })
	for _, a := range all[:len(m)-max*9/10] {
		delete(m, a.key)
	}
}

// compact rewrites the file with the live entries only, atomically (the
// new file and its directory entry are fsynced before and after the
// rename). t.mu is held or t is not shared yet; an open t.f is reopened on
// the new file.
func (t *Threads) compact() error {
	err := fsutil.WriteAtomicFunc(fsutil.OS{}, t.path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for k, e := range t.thread {
			if err := enc.Encode(record{Thread: k, Entry: e}); err != nil {
				return err
			}
		}
		for k, e := range t.pair {
			if err := enc.Encode(record{Pair: k, Entry: e}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compact thread store: %w", err)
	}
	t.lines = len(t.thread) + len(t.pair)
	if t.f == nil {
		return nil
	}
	t.f.Close() // it names the old file
	t.f = nil
	f, err := fsutil.OpenAppend(fsutil.OS{}, t.path)
	if err != nil {
		return fmt.Errorf("compact thread store: %w", err)
	}
	t.f = f
	return nil
}

// Record notes that the mail messageID (with its References refs) was
// forwarded from puppet to user in thread. It implements the forward
// path's thread hook.
func (t *Threads) Record(_ context.Context, puppet, user, thread, messageID string, refs []string) error {
	if messageID == "" || len(messageID) > 250 {
		return nil
	}
	if len(refs) > maxRefs {
		refs = append([]string{refs[0]}, refs[len(refs)-maxRefs+1:]...)
	}
	r := record{Thread: thread, Pair: pairKey(puppet, user),
		Entry: Entry{MessageID: messageID, References: refs, Time: time.Now().UTC()}}
	line, err := json.Marshal(r)
	if err != nil || len(line) >= maxLineBytes {
		return fmt.Errorf("thread store: record: %v", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apply(r)
	if t.f == nil {
		return fmt.Errorf("thread store: closed")
	}
	if _, err := t.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("thread store: write: %w", err)
	}
	t.lines++
	if t.overgrown() { // L1: compact while running, not only at open
		return t.compact()
	}
	return nil
}

// ByThread returns the last mail forwarded in thread.
func (t *Threads) ByThread(thread string) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.thread[thread]
	return e, ok
}

// Last returns the last mail forwarded from puppet to user.
func (t *Threads) Last(puppet, user string) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.pair[pairKey(puppet, user)]
	return e, ok
}

// Close closes the file. A nil *Threads is closed.
func (t *Threads) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}

func pairKey(puppet, user string) string {
	sum := sha256.Sum256([]byte("passerelle-pair\x00" + puppet + "\x00" + user))
	return hex.EncodeToString(sum[:16])
}
