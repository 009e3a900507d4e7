package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"passerelle/internal/fsutil"
)

const (
	dirLog = "log"
	// segMax is the size past which the log starts a new segment.
	segMax = 32 << 20
	// segSuffix ends a segment's name: log/<16 hex digits>.seg.
	segSuffix = ".seg"
)

// segment is one file of the log.
type segment struct {
	seq  uint64
	path string
	// refs counts the live messages whose put record, or whose latest
	// state record, is in this segment; puts and live count the put
	// records written to it and the live messages among them. Guarded by
	// FileStore.imu.
	refs, puts, live int
}

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil
}

// listSegments returns the segment numbers in dir, ascending.
func listSegments(fsys fileSystem, dir string) ([]uint64, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, de := range entries {
		if n, ok := parseSegName(de.Name()); ok {
			seqs = append(seqs, n)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// wal is the append-only log: one active segment, appended under mu, and
// group commit: a writer whose record is not yet durable either waits for
// the fsync in progress or, if none is, runs one for every record written
// so far. Twenty concurrent Puts share one fsync instead of paying for
// twenty (and for the file creations, renames and directory fsyncs a file
// per message costs).
type wal struct {
	dir    string
	fs     fileSystem
	segMax int64 // rotate past this; tests make it small

	mu      sync.Mutex
	cond    *sync.Cond
	f       fsutil.File // active segment; nil until the first append
	seg     *segment
	segs    []*segment // ascending; the last is active when f != nil
	off     int64      // bytes in the active segment
	syncOff int64      // bytes of the active segment known durable
	synced  uint64     // every record with lsn <= synced is durable
	lsn     uint64     // of the last record written
	syncing bool
	nextSeq uint64
	broken  bool      // the active segment holds unsynced garbage: start a new one
	failed  []lsnSpan // records lost to a failed fsync
	failErr error
}

// lsnSpan is a range (from, to] of records lost to a failed fsync.
type lsnSpan struct{ from, to uint64 }

// recPos is where a record was written.
type recPos struct {
	seg *segment
	off int64
	lsn uint64
}

func newWAL(dir string, fsys fileSystem) (*wal, error) {
	seqs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, err
	}
	w := &wal{dir: dir, fs: fsys, segMax: segMax, nextSeq: 1}
	if len(seqs) > 0 {
		w.nextSeq = seqs[len(seqs)-1] + 1 // never append to a segment of an earlier run
	}
	w.cond = sync.NewCond(&w.mu)
	return w, nil
}

// append writes rec at the end of the log. It is not durable until wait
// returns nil for the returned position.
func (w *wal) append(rec []byte) (recPos, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil || w.broken || (w.off > 0 && w.off+int64(len(rec)) > w.segMax) {
		if err := w.rotateLocked(); err != nil {
			return recPos{}, err
		}
	}
	n, err := w.f.Write(rec)
	if err != nil {
		if n > 0 && truncateFile(w.f, w.off) != nil {
			w.broken = true // the partial record stays: never acknowledged, torn at replay
		}
		return recPos{}, writeError("append to log", err)
	}
	w.lsn++
	pos := recPos{seg: w.seg, off: w.off, lsn: w.lsn}
	w.off += int64(n)
	return pos, nil
}

// wait returns once the record at pos is durable, or the error of the
// fsync that lost it.
func (w *wal) wait(pos recPos) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, s := range w.failed {
			if pos.lsn > s.from && pos.lsn <= s.to {
				return w.failErr
			}
		}
		if w.synced >= pos.lsn {
			return nil
		}
		if w.syncing {
			w.cond.Wait()
			continue
		}
		w.syncLocked()
	}
}

// syncLocked fsyncs the active segment with mu released, so writers keep
// appending (their records join the next fsync).
func (w *wal) syncLocked() {
	w.syncing = true
	f, target, off := w.f, w.lsn, w.off
	w.mu.Unlock()
	err := f.Sync()
	w.mu.Lock()
	w.syncing = false
	if err != nil {
		w.failLocked(writeError("fsync log", err))
	} else {
		w.synced = max(w.synced, target)
		w.syncOff = max(w.syncOff, off)
	}
	w.cond.Broadcast()
}

// failLocked handles a failed fsync: after it the kernel may have dropped
// the dirty pages, so nothing written since the last good fsync counts.
// Those records fail, and the segment is cut back to its synced length
// (or abandoned if that fails: the records then replay after a restart,
// which at worst delivers a message its client was told to retry).
func (w *wal) failLocked(err error) {
	w.failed = append(w.failed, lsnSpan{from: w.synced, to: w.lsn})
	w.failErr = err
	w.synced = w.lsn // settled: failed
	if truncateFile(w.f, w.syncOff) != nil {
		w.broken = true
		return
	}
	w.off = w.syncOff
}

// rotateLocked seals the active segment (fsync: its records must be
// durable before any later record is) and creates the next one.
func (w *wal) rotateLocked() error {
	for w.syncing {
		w.cond.Wait()
	}
	if w.f != nil {
		if w.lsn > w.synced {
			if err := w.f.Sync(); err != nil {
				w.failLocked(writeError("fsync log", err))
			} else {
				w.synced = w.lsn
			}
			w.cond.Broadcast()
		}
		_ = w.f.Close()
		w.f = nil
	}
	seq := w.nextSeq
	path := filepath.Join(w.dir, segName(seq))
	f, err := w.fs.Create(path)
	if err != nil {
		return writeError("create log segment", err)
	}
	w.nextSeq++
	if err := w.fs.SyncDir(w.dir); err != nil {
		_ = f.Close()
		_ = w.fs.Remove(path)
		return writeError("fsync log dir", err)
	}
	w.f, w.off, w.syncOff, w.broken = f, 0, 0, false
	w.seg = &segment{seq: seq, path: path}
	w.segs = append(w.segs, w.seg)
	return nil
}

// close syncs what no writer waited for (removals) and closes the active
// segment.
func (w *wal) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.syncing {
		w.cond.Wait()
	}
	if w.f == nil {
		return nil
	}
	var err error
	if w.lsn > w.synced && !w.broken {
		if err = w.f.Sync(); err == nil {
			w.synced = w.lsn
		}
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

func truncateFile(f fsutil.File, size int64) error {
	t, ok := f.(interface{ Truncate(int64) error })
	if !ok {
		return os.ErrInvalid
	}
	return t.Truncate(size)
}
