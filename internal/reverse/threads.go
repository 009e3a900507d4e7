package reverse

import (
	"bufio"
	"context"
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
	Thread string    `json:"th,omitempty"` // keyed hash of the thread id
	Pair   string    `json:"p,omitempty"`  // keyed hash of puppet and user
	Sealed string    `json:"s,omitempty"`  // Message-ID and References, AES-256-GCM
	Time   time.Time `json:"t"`
	// Before the install secret (legacy lines, read only): in clear, with
	// th the clear thread id and p an unkeyed hash.
	MessageID  string   `json:"id,omitempty"`
	References []string `json:"refs,omitempty"`
}

// Threads maps XMPP threads, and each (puppet, user) pair, to the last mail
// forwarded in them. It is an append-only file of JSON lines, read into
// memory at open and compacted when it has grown to twice what is live.
// The file holds no clear value: index keys are HMACs and the Message-IDs
// are sealed, both under keys derived from the per-install secret (see
// threadKeys). A record lost in a crash costs only threading. It is safe
// for concurrent use.
type Threads struct {
	path  string
	max   int
	slack int // dead lines tolerated beyond the live ones before compacting
	log   *zap.Logger
	keys  *threadKeys

	mu     sync.Mutex
	f      *os.File
	lines  int
	thread map[string]Entry
	pair   map[string]Entry
}

// OpenThreads opens (or creates) the store at path; max bounds each index
// (0: DefaultMaxThreads). key (from keys.InstallSecret.Key) keys the
// index hashes and seals the entries; nil: a random key, so the store
// does not outlive the process. Lines written before the install secret
// are migrated: their thread entries are sealed and rewritten at once;
// their pair entries (keyed with a hash that cannot be recomputed) are
// dropped, which costs only threading.
func OpenThreads(path string, max int, key []byte, log *zap.Logger) (*Threads, error) {
	if max <= 0 {
		max = DefaultMaxThreads
	}
	if log == nil {
		log = zap.NewNop()
	}
	tk, err := newThreadKeys(key)
	if err != nil {
		return nil, err
	}
	t := &Threads{path: path, max: max, slack: 1000, log: log.Named("threads"), keys: tk,
		thread: map[string]Entry{}, pair: map[string]Entry{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open thread store: %w", err)
	}
	fsutil.RemoveTemps(fsutil.OS{}, path) // a compaction cut short by a crash
	legacy, err := t.load()
	if err != nil {
		return nil, err
	}
	if legacy > 0 || t.overgrown() { // no clear value stays in the file
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

// load reads the file into memory; legacy counts the lines in the format
// from before the install secret.
func (t *Threads) load() (legacy int, err error) {
	f, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open thread store: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxLineBytes)
	bad := 0
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			bad++
			continue
		}
		switch {
		case r.Sealed != "":
			e, err := t.keys.open(r.Sealed, r.Thread+"\x00"+r.Pair)
			if err != nil { // another install's secret, or damage
				bad++
				continue
			}
			e.Time = r.Time
			t.apply(r.Thread, r.Pair, e)
		case r.MessageID != "":
			legacy++
			t.apply(t.keys.threadKey(r.Thread), "",
				Entry{MessageID: r.MessageID, References: r.References, Time: r.Time})
		default:
			bad++
			continue
		}
		t.lines++
	}
	if err := sc.Err(); err != nil {
		t.log.Warn("thread store read stopped early", zap.Error(err))
	}
	if bad > 0 {
		t.log.Warn("thread store lines skipped", zap.Int("lines", bad))
	}
	if legacy > 0 {
		t.log.Info("thread store migrated: clear Message-IDs sealed, unkeyed pair entries dropped",
			zap.Int("lines", legacy))
	}
	return legacy, nil
}

// apply indexes e under the (already keyed) thread and pair keys.
func (t *Threads) apply(thread, pair string, e Entry) {
	if thread != "" {
		t.thread[thread] = e
		evict(t.thread, t.max)
	}
	if pair != "" {
		t.pair[pair] = e
		evict(t.pair, t.max)
	}
}

// line seals e as a record under the keyed thread and pair keys.
func (t *Threads) line(thread, pair string, e Entry) (record, error) {
	s, err := t.keys.seal(e, thread+"\x00"+pair)
	if err != nil {
		return record{}, fmt.Errorf("thread store: seal: %w", err)
	}
	return record{Thread: thread, Pair: pair, Sealed: s, Time: e.Time}, nil
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
		put := func(thread, pair string, e Entry) error {
			r, err := t.line(thread, pair, e)
			if err == nil {
				err = enc.Encode(r)
			}
			return err
		}
		for k, e := range t.thread {
			if err := put(k, "", e); err != nil {
				return err
			}
		}
		for k, e := range t.pair {
			if err := put("", k, e); err != nil {
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
	e := Entry{MessageID: messageID, References: refs, Time: time.Now().UTC()}
	th, p := t.keys.threadKey(thread), t.keys.pairKey(puppet, user)
	r, err := t.line(th, p, e)
	if err != nil {
		return err
	}
	line, err := json.Marshal(r)
	if err != nil || len(line) >= maxLineBytes {
		return fmt.Errorf("thread store: record: %v", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apply(th, p, e)
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
	e, ok := t.thread[t.keys.threadKey(thread)]
	return e, ok
}

// Last returns the last mail forwarded from puppet to user.
func (t *Threads) Last(puppet, user string) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.pair[t.keys.pairKey(puppet, user)]
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
