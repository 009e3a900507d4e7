package peertrust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"passerelle/internal/fsutil"
)

// Pin is what the store knows about one peer domain.
type Pin struct {
	Domain      string    `json:"domain"`
	Fingerprint string    `json:"fingerprint"` // lower-case hex of the trusted key
	JID         string    `json:"jid"`         // the component JID of the record
	Source      string    `json:"source"`      // how it was pinned: "tofu", "dnssec", "accept", "re-pin"
	FirstSeen   time.Time `json:"first_seen"`  // when this fingerprint was pinned
	LastSeen    time.Time `json:"last_seen"`
	RecordTTL   Seconds   `json:"record_ttl"` // the record's ttl when last seen
	// Expires is the end of the pinned record's lifetime: the key may not
	// change before it without an operator's decision.
	Expires time.Time `json:"expires"`
	Pending *Pending  `json:"pending,omitempty"`
}

// Pending is a key change held for the operator.
type Pending struct {
	Fingerprint   string    `json:"fingerprint"`
	JID           string    `json:"jid"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	RecordTTL     Seconds   `json:"record_ttl"`
	Authenticated bool      `json:"authenticated"` // the record carried AD
	Reason        string    `json:"reason"`
}

// Seconds is a duration stored as whole seconds.
type Seconds int64

// Duration converts s.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

type fileFormat struct {
	Version int   `json:"version"`
	Peers   []Pin `json:"peers"`
}

const formatVersion = 1

// Store is the durable pin file. Several Stores (in several processes) may
// open the same path; every change is a locked read-modify-write.
type Store struct {
	path string
	fs   fsutil.FS

	mu    sync.Mutex
	ident os.FileInfo // of the file last read; nil: absent
	pins  map[string]Pin
}

// OpenStore opens (or prepares) the pin file at path, creating its
// directory. fsys nil means fsutil.OS.
func OpenStore(path string, fsys fsutil.FS) (*Store, error) {
	if fsys == nil {
		fsys = fsutil.OS{}
	}
	if err := fsutil.MkdirAll(fsys, filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("peer store: %w", err)
	}
	s := &Store{path: path, fs: fsys}
	err := s.locked(context.Background(), func() error {
		fsutil.RemoveTemps(fsys, path) // under the lock no writer is mid-write
		return s.refresh()
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the store file's path.
func (s *Store) Path() string { return s.path }

// refresh re-reads the file if it changed since the last read. Callers
// hold s.mu.
func (s *Store) refresh() error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.ident, s.pins = nil, map[string]Pin{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("peer store: %w", err)
	}
	if s.ident != nil && os.SameFile(s.ident, fi) && s.ident.Size() == fi.Size() && s.ident.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("peer store: %w", err)
	}
	pins, err := decode(data)
	if err != nil {
		return fmt.Errorf("peer store %s: %w", s.path, err)
	}
	s.ident, s.pins = fi, pins
	return nil
}

func decode(data []byte) (map[string]Pin, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("corrupt: %w", err)
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, formatVersion)
	}
	pins := make(map[string]Pin, len(f.Peers))
	for _, p := range f.Peers {
		if p.Domain == "" || p.Domain != normalize(p.Domain) {
			return nil, fmt.Errorf("corrupt: domain %q", p.Domain)
		}
		if _, dup := pins[p.Domain]; dup {
			return nil, fmt.Errorf("corrupt: domain %s twice", p.Domain)
		}
		pins[p.Domain] = p
	}
	return pins, nil
}

// write persists pins durably and makes them current. Callers hold the
// lock and s.mu.
func (s *Store) write(pins map[string]Pin) error {
	f := fileFormat{Version: formatVersion, Peers: make([]Pin, 0, len(pins))}
	for _, d := range slices.Sorted(maps.Keys(pins)) {
		f.Peers = append(f.Peers, pins[d])
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("peer store: encode: %w", err)
	}
	if err := fsutil.WriteAtomic(s.fs, filepath.Dir(s.path), filepath.Base(s.path), append(data, '\n')); err != nil {
		s.ident = nil // the file may or may not be the new one: re-read next time
		return fmt.Errorf("peer store: write %s: %w", s.path, err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		s.ident = nil
		return fmt.Errorf("peer store: %w", err)
	}
	s.ident, s.pins = fi, pins
	return nil
}

// locked runs fn holding s.mu and the file lock.
func (s *Store) locked(ctx context.Context, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lf, err := lockFile(ctx, s.path+".lock")
	if err != nil {
		return err
	}
	defer lf.Close() // closing drops the flock
	return fn()
}

// lockFile takes an exclusive flock(2) on name, polling until ctx ends
// (flock itself cannot be cancelled).
func lockFile(ctx context.Context, name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("peer store: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("peer store: lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("peer store: lock %s: %w", name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// update runs fn on a copy of the current pins under the lock and writes
// the result if fn reports a change.
func (s *Store) update(ctx context.Context, fn func(pins map[string]Pin) (bool, error)) error {
	return s.locked(ctx, func() error {
		if err := s.refresh(); err != nil {
			return err
		}
		pins := maps.Clone(s.pins)
		changed, err := fn(pins)
		if err != nil || !changed {
			return err
		}
		return s.write(pins)
	})
}

// Get returns domain's pin from the current file.
func (s *Store) Get(domain string) (Pin, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return Pin{}, false, err
	}
	p, ok := s.pins[normalize(domain)]
	return p, ok, nil
}

// List returns every pin, sorted by domain.
func (s *Store) List() ([]Pin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return nil, err
	}
	out := make([]Pin, 0, len(s.pins))
	for _, d := range slices.Sorted(maps.Keys(s.pins)) {
		out = append(out, s.pins[d])
	}
	return out, nil
}

// ErrNoPending is returned by Accept for a domain with no held key.
var ErrNoPending = errors.New("peertrust: no pending key change")

// ErrUnknown is returned for a domain the store does not know.
var ErrUnknown = errors.New("peertrust: domain not in the store")

// Accept makes domain's pending key the pin (the operator's decision), with
// a lifetime starting now. It returns the new pin.
func (s *Store) Accept(ctx context.Context, domain string, now time.Time) (Pin, error) {
	domain = normalize(domain)
	var out Pin
	err := s.update(ctx, func(pins map[string]Pin) (bool, error) {
		p, ok := pins[domain]
		if !ok {
			return false, fmt.Errorf("accept %s: %w", domain, ErrUnknown)
		}
		if p.Pending == nil {
			return false, fmt.Errorf("accept %s: %w", domain, ErrNoPending)
		}
		pd := p.Pending
		out = Pin{Domain: domain, Fingerprint: pd.Fingerprint, JID: pd.JID, Source: "accept",
			FirstSeen: now, LastSeen: pd.LastSeen, RecordTTL: pd.RecordTTL, Expires: now.Add(pd.RecordTTL.Duration())}
		pins[domain] = out
		return true, nil
	})
	return out, err
}

// Forget removes domain from the store: its next contact is a first
// contact again. It reports whether the domain was known.
func (s *Store) Forget(ctx context.Context, domain string) (bool, error) {
	domain = normalize(domain)
	known := false
	err := s.update(ctx, func(pins map[string]Pin) (bool, error) {
		_, known = pins[domain]
		delete(pins, domain)
		return known, nil
	})
	return known, err
}

func normalize(domain string) string { return strings.TrimSuffix(strings.ToLower(domain), ".") }
