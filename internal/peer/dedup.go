package peer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"passerelle/bridge/peermsg"
	"passerelle/internal/fsutil"
)

// DefaultDedupTTL is how long a stored transfer's ack is kept: longer than
// a sender's queue lifetime (five days), so every retry finds it.
const DefaultDedupTTL = 7 * 24 * time.Hour

// Dedup remembers, durably, the transfers stored and the ack each got:
// one small file per (sending gateway, transfer id), written with fsync
// after the mail is spooled and before the ack is sent.
type Dedup struct {
	dir string
	ttl time.Duration
	fs  fsutil.FS

	mu       sync.Mutex
	inflight map[string]bool
}

// OpenDedup opens (creating) the store in dir and drops entries older
// than ttl (0: DefaultDedupTTL).
func OpenDedup(dir string, ttl time.Duration, now time.Time) (*Dedup, error) {
	if ttl <= 0 {
		ttl = DefaultDedupTTL
	}
	d := &Dedup{dir: dir, ttl: ttl, fs: fsutil.OS{}, inflight: map[string]bool{}}
	if err := fsutil.MkdirAll(d.fs, dir); err != nil {
		return nil, fmt.Errorf("peer: dedup dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("peer: dedup dir: %w", err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > ttl {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return d, nil
}

func dedupKey(from, id string) string {
	sum := sha256.Sum256([]byte("passerelle-peer\x00" + from + "\x00" + id))
	return hex.EncodeToString(sum[:16])
}

// Get returns the ack stored for key, or nil. seeded says the entry came
// from the spool at start-up (SeedDedup), not from a completed transfer:
// it lists only the recipients found there.
func (d *Dedup) Get(key string) (ack *peermsg.Ack, seeded bool, err error) {
	for _, name := range []string{key, key + seedSuffix} {
		b, err := os.ReadFile(filepath.Join(d.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("peer: dedup read: %w", err)
		}
		ack, err := peermsg.ParseAck(xml.NewDecoder(bytes.NewReader(b)), 1000)
		if err != nil {
			return nil, false, fmt.Errorf("peer: dedup entry %s: %w", name, err)
		}
		return ack, name != key, nil
	}
	return nil, false, nil
}

const seedSuffix = ".seeded"

// Seed records, for transfers whose mail is in the spool but that have no
// entry (a crash between the spool's fsync and the entry's), the
// recipients stored. tags maps a ParamTransfer value ("JID id") to them.
func (d *Dedup) Seed(tags map[string][]string) (int, error) {
	n := 0
	for tag, addrs := range tags {
		from, id, ok := strings.Cut(tag, " ")
		if !ok || !peermsg.ValidID(id) {
			continue
		}
		key := dedupKey(from, id)
		if prior, _, err := d.Get(key); err != nil || prior != nil {
			continue
		}
		ack := &peermsg.Ack{ID: id}
		for _, a := range addrs {
			ack.Results = append(ack.Results, peermsg.RcptResult{Addr: a, Status: peermsg.StatusOK})
		}
		if err := d.write(key+seedSuffix, ack); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Claim marks key as being processed; false if it already is (a retry
// that overtook the first attempt).
func (d *Dedup) Claim(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[key] {
		return false
	}
	d.inflight[key] = true
	return true
}

// Release ends a Claim.
func (d *Dedup) Release(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, key)
}

// Put stores the ack for key durably, replacing a seeded entry.
func (d *Dedup) Put(key string, ack *peermsg.Ack) error {
	if err := d.write(key, ack); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(d.dir, key+seedSuffix))
	return nil
}

func (d *Dedup) write(name string, ack *peermsg.Ack) error {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	for _, t := range ack.Tokens() {
		if err := enc.EncodeToken(t); err != nil {
			return fmt.Errorf("peer: dedup encode: %w", err)
		}
	}
	if err := enc.Flush(); err != nil {
		return fmt.Errorf("peer: dedup encode: %w", err)
	}
	if err := fsutil.WriteAtomic(d.fs, d.dir, name, b.Bytes()); err != nil {
		return fmt.Errorf("peer: dedup write: %w", err)
	}
	return nil
}
