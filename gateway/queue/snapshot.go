package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Snapshot reads the spool at dir without taking its lock and without
// changing anything, for operators' tools (`passerelle queue list`) while a
// gateway runs: it replays the log segments (and reads the envelopes of the
// file-per-message format, if any are left). A record being appended at
// that moment is not seen yet; a segment deleted meanwhile holds nothing
// live. Damaged records are returned as Damaged rather than quarantined.
// Messages are sorted by arrival.
func Snapshot(dir string) ([]*Envelope, []Damaged, error) {
	if _, err := os.Stat(filepath.Join(dir, dirEnv)); err != nil {
		return nil, nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	live := map[string]*Envelope{}
	damaged, err := snapshotLegacy(dir, live)
	if err != nil {
		return nil, nil, err
	}
	seqs, err := listSegments(osFS{}, filepath.Join(dir, dirLog))
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	for _, seq := range seqs {
		data, err := os.ReadFile(filepath.Join(dir, dirLog, segName(seq)))
		if os.IsNotExist(err) {
			continue // reclaimed since the listing: nothing live in it
		}
		if err != nil {
			return nil, nil, fmt.Errorf("snapshot %s: %w", dir, err)
		}
		replaySegment(data, func(rec *rawRecord) { applySnapshot(live, rec) }, func(sp damageSpan) {
			damaged = append(damaged, Damaged{ID: fmt.Sprintf("log-%016x-%d", seq, sp.from), Reason: sp.err.Error()})
		})
	}
	envs := make([]*Envelope, 0, len(live))
	for _, e := range live {
		envs = append(envs, e)
	}
	sort.Slice(envs, func(i, j int) bool { return envs[i].Received.Before(envs[j].Received) })
	return envs, damaged, nil
}

func applySnapshot(live map[string]*Envelope, rec *rawRecord) {
	h := &rec.hdr
	switch h.Op {
	case opPut:
		live[h.ID] = h.Env
	case opUpdate:
		if e := live[h.ID]; e != nil && len(e.Recipients) == len(h.Rcpts) {
			e.Recipients = h.Rcpts
		}
	case opRemove, opQuarantine:
		delete(live, h.ID)
	}
}

// snapshotLegacy reads env/*.json of the file-per-message format.
func snapshotLegacy(dir string, live map[string]*Envelope) ([]Damaged, error) {
	names, err := filepath.Glob(filepath.Join(dir, dirEnv, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	var damaged []Damaged
	for _, name := range names {
		id := strings.TrimSuffix(filepath.Base(name), ".json")
		e, err := readSnapshotEnvelope(name)
		if err != nil {
			if !os.IsNotExist(err) { // removed since the Glob: imported or delivered
				damaged = append(damaged, Damaged{ID: id, Reason: err.Error()})
			}
			continue
		}
		live[e.ID] = e
	}
	return damaged, nil
}

func readSnapshotEnvelope(path string) (*Envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEnvelopeSize+1))
	if err != nil {
		return nil, err
	}
	return decodeEnvelope(data)
}

// Count returns how many messages the spool at dir holds, without taking
// its lock or changing anything.
func Count(dir string) (int, error) { return NewCounter(dir).Count() }

// Counter counts the messages of a spool that a running gateway changes,
// reading only what was appended to the log since its last call: a cheap
// probe for tools and benchmarks that wait for a spool to drain.
type Counter struct {
	dir  string
	read map[uint64]int64 // segment -> bytes of whole records read
	live map[string]bool
}

// NewCounter returns a Counter for the spool at dir.
func NewCounter(dir string) *Counter {
	return &Counter{dir: dir, read: map[uint64]int64{}, live: map[string]bool{}}
}

// Count returns the number of messages in the spool now.
func (c *Counter) Count() (int, error) {
	seqs, err := listSegments(osFS{}, filepath.Join(c.dir, dirLog))
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", c.dir, err)
	}
	for _, seq := range seqs {
		if err := c.tail(seq); err != nil {
			return 0, err
		}
	}
	legacy, _ := filepath.Glob(filepath.Join(c.dir, dirEnv, "*.json"))
	n := len(c.live)
	for _, name := range legacy {
		if !c.live[strings.TrimSuffix(filepath.Base(name), ".json")] {
			n++
		}
	}
	return n, nil
}

// tail reads the records appended to segment seq since the last call.
func (c *Counter) tail(seq uint64) error {
	f, err := os.Open(filepath.Join(c.dir, dirLog, segName(seq)))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("count %s: %w", c.dir, err)
	}
	defer f.Close()
	start := c.read[seq]
	data, err := io.ReadAll(io.NewSectionReader(f, start, 1<<62))
	if err != nil {
		return fmt.Errorf("count %s: %w", c.dir, err)
	}
	off := int64(0)
	for {
		rec, err := parseRecord(data, off)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, errTorn) && !errors.Is(err, ErrDamaged) {
				return err
			}
			break // the end, a record being written, or damage: look again next time
		}
		switch rec.hdr.Op {
		case opPut:
			c.live[rec.hdr.ID] = true
		case opRemove, opQuarantine:
			delete(c.live, rec.hdr.ID)
		}
		off += rec.size
	}
	c.read[seq] = start + off
	return nil
}
