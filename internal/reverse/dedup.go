package reverse

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

// Defaults of DedupConfig.
const (
	DefaultDedupTTL = 24 * time.Hour
	DefaultDedupMax = 100000
)

// DedupConfig configures duplicate suppression (BRIEF: guarantees,
// "duplicates are suppressed by stanza id").
type DedupConfig struct {
	// File keeps the keys of spooled messages across restarts; "" keeps
	// them in memory only.
	File string
	TTL  time.Duration // how long a spooled message suppresses its copies; default 24 h
	Max  int           // keys kept; the oldest go first; default 100000
	// Seed holds the keys of messages still in the spool (their "dedup"
	// recipient Param) with their arrival times. It closes the window in
	// which a crash after the spool's fsync but before the file's lost a
	// key.
	Seed map[string]time.Time
}

// dedupKey is the duplicate-suppression key of a message: a hash of the
// sender's bare JID (as the server stamped it), the puppet, and the
// XEP-0359 origin-id, or else the stanza id together with the content (a
// client that reuses stanza ids for new messages must not lose them; a
// resent stanza has the same bytes). "" when the message has no id.
func (in *inbound) dedupKey() string {
	h := sha256.New()
	h.Write([]byte("passerelle-dedup\x00" + in.From.Bare().String() + "\x00" + in.To.Bare().String() + "\x00"))
	switch {
	case in.OriginID != "":
		h.Write([]byte("origin\x00" + in.OriginID))
	case in.ID != "":
		h.Write([]byte("stanza\x00" + in.ID + "\x00"))
		h.Write(in.OpenPGP)
		h.Write([]byte{0})
		h.Write(in.Plain)
	default:
		return ""
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// dedup remembers, for a while, the keys of the messages spooled, and
// which keys a worker is processing right now, so that of two copies only
// one is spooled. Keys reach the file (fsynced, like a spool Put) before
// the receipt is sent; the file is append-only, one "key unix-time" line
// per message, read at open and compacted when it has grown to twice what
// is live. It holds hashes only.
type dedup struct {
	ttl   time.Duration
	max   int
	slack int // dead lines tolerated in the file beyond the live ones
	now   func() time.Time
	log   *zap.Logger

	fileMu sync.Mutex // f, lines, torn; taken before mu
	path   string
	f      *os.File
	lines  int
	torn   bool // the file may end in a partial line

	mu      sync.Mutex
	done    map[string]time.Time     // key -> when its message was spooled
	pending map[string]chan struct{} // key -> closed when its worker is done
}

func openDedup(cfg DedupConfig, now func() time.Time, log *zap.Logger) (*dedup, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultDedupTTL
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultDedupMax
	}
	d := &dedup{ttl: cfg.TTL, max: cfg.Max, slack: 1000, now: now, log: log, path: cfg.File,
		done: map[string]time.Time{}, pending: map[string]chan struct{}{}}
	if d.path == "" {
		return d, nil
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
		return nil, fmt.Errorf("open dedup file: %w", err)
	}
	fsutil.RemoveTemps(fsutil.OS{}, d.path) // a compaction cut short by a crash
	if err := d.load(); err != nil {
		return nil, err
	}
	d.seed(cfg.Seed)
	if d.lines > 2*len(d.done)+d.slack {
		return d, d.compact()
	}
	return d, d.openAppend()
}

// seed adds the spool's keys that are still fresh and not yet known.
func (d *dedup) seed(keys map[string]time.Time) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, t := range keys {
		if _, ok := d.done[k]; !ok && now.Sub(t) < d.ttl {
			d.done[k] = t
		}
	}
	d.evict(now)
}

// openAppend opens the file for appending and fsyncs its directory, so a
// newly created file survives a crash.
func (d *dedup) openAppend() error {
	f, err := fsutil.OpenAppend(fsutil.OS{}, d.path)
	if err != nil {
		return fmt.Errorf("open dedup file: %w", err)
	}
	d.f = f
	return nil
}

func (d *dedup) load() error {
	f, err := os.Open(d.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open dedup file: %w", err)
	}
	defer f.Close()
	now := d.now()
	br := bufio.NewReaderSize(f, 4096)
	bad := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull { // an overlong line: skip it
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			line, d.torn = nil, err == io.EOF
			d.lines++
			bad++
		}
		if len(line) > 0 {
			d.lines++
			d.torn = line[len(line)-1] != '\n'
			key, t, ok := parseDedupLine(strings.TrimSuffix(string(line), "\n"))
			switch {
			case !ok:
				bad++
			case now.Sub(t) < d.ttl:
				d.done[key] = t
				d.evict(now)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			d.log.Warn("dedup file read stopped early", zap.Error(err))
			d.torn = true
			break
		}
	}
	if bad > 0 {
		d.log.Warn("dedup file lines skipped", zap.Int("lines", bad))
	}
	return nil
}

func parseDedupLine(line string) (string, time.Time, bool) {
	key, sec, ok := strings.Cut(line, " ")
	if _, err := hex.DecodeString(key); !ok || err != nil || len(key) != 32 {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return key, time.Unix(n, 0), true
}

// seen reports whether a message with key was spooled within the TTL.
func (d *dedup) seen(key string) bool {
	if key == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fresh(key, d.now())
}

func (d *dedup) fresh(key string, now time.Time) bool {
	t, ok := d.done[key]
	return ok && now.Sub(t) < d.ttl
}

// claim returns true when the caller is to process the message with key,
// and must then call finish; false when a copy was already spooled. While
// another worker processes a copy, claim waits for it.
func (d *dedup) claim(ctx context.Context, key string) (bool, error) {
	for {
		d.mu.Lock()
		if d.fresh(key, d.now()) {
			d.mu.Unlock()
			return false, nil
		}
		ch, busy := d.pending[key]
		if !busy {
			d.pending[key] = make(chan struct{})
			d.mu.Unlock()
			return true, nil
		}
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// finish releases the claim on key. When its message was spooled the key
// is recorded first, in the file and then in memory, so the copies waiting
// in claim, and copies after a restart, are suppressed. The error is the
// file's: the key is remembered in memory even then.
func (d *dedup) finish(key string, spooled bool) error {
	var err error
	if spooled {
		err = d.commit(key)
	}
	d.mu.Lock()
	if ch, ok := d.pending[key]; ok {
		close(ch)
		delete(d.pending, key)
	}
	d.mu.Unlock()
	return err
}

func (d *dedup) commit(key string) error {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	now := d.now()
	err := d.append(key, now)
	d.mu.Lock()
	d.done[key] = now
	d.evict(now)
	live := len(d.done)
	d.mu.Unlock()
	if err == nil && d.f != nil && d.lines > 2*live+d.slack {
		err = d.compact()
	}
	return err
}

var errDedupClosed = errors.New("reverse: dedup file closed")

func (d *dedup) append(key string, t time.Time) error {
	if d.path == "" {
		return nil
	}
	if d.f == nil {
		return errDedupClosed
	}
	line := fmt.Appendf(nil, "%s %d\n", key, t.Unix())
	if d.torn {
		line = append([]byte{'\n'}, line...)
	}
	_, err := d.f.Write(line)
	if err == nil {
		err = d.f.Sync()
	}
	if d.torn = err != nil; err != nil {
		return fmt.Errorf("reverse: dedup file: %w", err)
	}
	d.lines++
	return nil
}

// evict drops expired keys once there are more than max, then the oldest
// down to nine tenths of max. d.mu is held (or d is not shared yet).
func (d *dedup) evict(now time.Time) {
	if len(d.done) <= d.max {
		return
	}
	for k, t := range d.done {
		if now.Sub(t) >= d.ttl {
			delete(d.done, k)
		}
	}
	if len(d.done) <= d.max {
		return
	}
	type aged struct {
		key string
		t   time.Time
	}
	all := make([]aged, 0, len(d.done))
	for k, t := range d.done {
		all = append(all, aged{k, t})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.t.Compare(b.t) })
	for _, a := range all[:len(d.done)-d.max*9/10] {
		delete(d.done, a.key)
	}
}

// compact rewrites the file with the live keys and reopens it. d.fileMu
// is held (or d is not shared yet).
func (d *dedup) compact() error {
	d.mu.Lock()
	var b []byte
	for k, t := range d.done {
		b = fmt.Appendf(b, "%s %d\n", k, t.Unix())
	}
	live := len(d.done)
	d.mu.Unlock()
	if err := fsutil.WriteAtomic(fsutil.OS{}, filepath.Dir(d.path), filepath.Base(d.path), b); err != nil {
		return fmt.Errorf("compact dedup file: %w", err)
	}
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	d.lines, d.torn = live, false
	return d.openAppend()
}

// close closes the file; later keys are kept in memory only.
func (d *dedup) close() error {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
