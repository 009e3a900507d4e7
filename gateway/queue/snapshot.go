package queue

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Snapshot reads the envelopes of the spool at dir without taking its lock
// and without changing anything, for operators' tools (`passerelle queue
// list`) while a gateway runs. An envelope being rewritten at that moment
// may be missed or seen in its previous state; unreadable ones are
// returned as Damaged rather than quarantined. Messages are sorted by
// arrival.
func Snapshot(dir string) ([]*Envelope, []Damaged, error) {
	names, err := filepath.Glob(filepath.Join(dir, dirEnv, "*.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, dirEnv)); err != nil {
		return nil, nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	var envs []*Envelope
	var damaged []Damaged
	for _, name := range names {
		id := strings.TrimSuffix(filepath.Base(name), ".json")
		e, err := readSnapshotEnvelope(name)
		if err != nil {
			if !os.IsNotExist(err) { // removed since the Glob: delivered
				damaged = append(damaged, Damaged{ID: id, Reason: err.Error()})
			}
			continue
		}
		envs = append(envs, e)
	}
	sort.Slice(envs, func(i, j int) bool { return envs[i].Received.Before(envs[j].Received) })
	return envs, damaged, nil
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
// its lock, reading them or changing anything: a cheap probe for tools and
// benchmarks that wait for a running gateway's spool to drain.
func Count(dir string) (int, error) {
	d, err := os.Open(filepath.Join(dir, dirEnv))
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", dir, err)
	}
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, ".json") {
			n++
		}
	}
	return n, nil
}
