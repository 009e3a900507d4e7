package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/zap/zaptest"

	"passerelle/internal/fsutil"
)

// segments lists the log segments of the spool in dir.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range listDir(t, dir, dirLog) {
		if strings.HasSuffix(n, segSuffix) {
			out = append(out, filepath.Join(dir, dirLog, n))
		}
	}
	return out
}

func openDamaged(t *testing.T, dir string) (*FileStore, []Damaged) {
	t.Helper()
	s, damaged, err := Open(context.Background(), dir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, damaged
}

func loadIDs(t *testing.T, s *FileStore) []string {
	t.Helper()
	msgs, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

// TestLogDamageQuarantined damages the middle one of three records: it
// goes to quarantine (never silently dropped), replay resumes at the next
// sound record so the third message survives, and when the damage is in a
// body while the envelope checks out, the envelope is returned so the
// sender can be told (M5).
func TestLogDamageQuarantined(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, s *FileStore, id string)
		wantEnv bool
	}{
		{"body", func(t *testing.T, s *FileStore, id string) { damageBody(t, s, id, 0) }, true},
		{"header", damageHeader, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestStore(t, dir)
			a, b, c := testEnvelope("a@example.net"), testEnvelope("b@example.net"), testEnvelope("c@example.net")
			mustPut(t, s, a, plainMessage)
			mustPut(t, s, b, plainMessage)
			r := cloneRecipients(b.Recipients)
			r[0].Attempts = 3
			if err := s.Update(context.Background(), b.ID, r); err != nil {
				t.Fatal(err)
			}
			mustPut(t, s, c, plainMessage)
			tt.damage(t, s, b.ID)
			_ = s.Close()

			s2, damaged := openDamaged(t, dir)
			if len(damaged) != 1 || (tt.wantEnv && damaged[0].ID != b.ID) || (!tt.wantEnv && !strings.HasPrefix(damaged[0].ID, "log-")) {
				t.Fatalf("damaged = %+v, want one entry for %s", damaged, b.ID)
			}
			d := damaged[0]
			if got := d.Envelope != nil; got != tt.wantEnv {
				t.Fatalf("envelope returned: %v, want %v", got, tt.wantEnv)
			}
			if tt.wantEnv && (d.ID != b.ID || d.Envelope.Recipients[0].Attempts != 3) {
				t.Errorf("damaged %s with %+v, want %s in its latest state", d.ID, d.Envelope.Recipients, b.ID)
			}
			if ids := loadIDs(t, s2); len(ids) != 2 || !contains(ids, a.ID) || !contains(ids, c.ID) {
				t.Errorf("Load = %v, want %s and %s", ids, a.ID, c.ID)
			}
			q := listDir(t, dir, filepath.Join(dirQuarantine, d.ID))
			if !contains(q, "records") || !contains(q, "reason.txt") {
				t.Errorf("quarantine/%s holds %v", d.ID, q)
			}
		})
	}
}

// TestLogTornTailIgnored cuts the last record short and appends zeros, as
// a crash during a write leaves a segment: that record was never
// acknowledged, so it is no damage, and the earlier ones are intact.
func TestLogTornTailIgnored(t *testing.T) {
	for _, tail := range []string{"cut", "zeros"} {
		t.Run(tail, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestStore(t, dir)
			a, b := testEnvelope("a@example.net"), testEnvelope("b@example.net")
			mustPut(t, s, a, plainMessage)
			mustPut(t, s, b, plainMessage)
			_ = s.Close()
			seg := segments(t, dir)[0]
			fi, _ := os.Stat(seg)
			switch tail {
			case "cut":
				if err := os.Truncate(seg, fi.Size()-10); err != nil {
					t.Fatal(err)
				}
			case "zeros":
				f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
				f.Write(make([]byte, 4096))
				f.Close()
			}
			s2, damaged := openDamaged(t, dir)
			if len(damaged) != 0 {
				t.Fatalf("damaged = %+v", damaged)
			}
			want := 1
			if tail == "zeros" {
				want = 2
			}
			if ids := loadIDs(t, s2); len(ids) != want || ids[0] != a.ID {
				t.Errorf("Load = %v, want %d messages starting with %s", ids, want, a.ID)
			}
		})
	}
}

// TestLargeBodyDamageQuarantined damages a body kept as a file.
func TestLargeBodyDamageQuarantined(t *testing.T) {
	tests := []struct {
		name   string
		damage func(path string) error
		want   string
	}{
		{"truncated", func(p string) error { return os.Truncate(p, 10) }, "body 0 is 10 bytes"},
		{"missing", os.Remove, "body 0 missing"},
		{"flipped", nil, "sha256 mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestStore(t, dir)
			bad, good := testEnvelope("bob@example.net"), testEnvelope("carol@example.net")
			mustPut(t, s, bad, largeCipher)
			mustPut(t, s, good, plainMessage)
			if tt.damage == nil {
				damageBody(t, s, bad.ID, 0)
			} else if err := tt.damage(s.bodyPath(bad.ID, 0)); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			s2, damaged := openDamaged(t, dir)
			if len(damaged) != 1 || damaged[0].ID != bad.ID || !strings.Contains(damaged[0].Reason, tt.want) {
				t.Fatalf("damaged = %+v, want %s with %q", damaged, bad.ID, tt.want)
			}
			if ids := loadIDs(t, s2); len(ids) != 1 || ids[0] != good.ID {
				t.Errorf("Load = %v", ids)
			}
			q := listDir(t, dir, filepath.Join(dirQuarantine, bad.ID))
			if !contains(q, bad.ID+".json") || !contains(q, "reason.txt") {
				t.Errorf("quarantine/%s holds %v", bad.ID, q)
			}
			// Quarantined for good: not back after another restart.
			_ = s2.Close()
			s3, damaged := openDamaged(t, dir)
			if len(damaged) != 0 || len(loadIDs(t, s3)) != 1 {
				t.Errorf("after restart: damaged %v, messages %v", damaged, loadIDs(t, s3))
			}
		})
	}
}

// TestLegacyImport opens a spool of the file-per-message format: its
// messages are imported into the log with their state, env/ empties, and
// the bodies stay readable where they are.
func TestLegacyImport(t *testing.T) {
	dir := t.TempDir()
	newTestStore(t, dir).Close()
	a := testEnvelope("bob@example.net", "carol@example.net")
	a.Bodies = append(a.Bodies, Body{Kind: BodyOpaque})
	a.Recipients[1].Body = 1
	putLegacy(t, dir, a, plainMessage, cipherText)
	a.Recipients[0].State, a.Recipients[0].Attempts = StateDelivered, 1
	data, _ := encodeEnvelope(a)
	writeFile(t, filepath.Join(dir, dirEnv, a.ID+".json"), string(data))
	if envs, _, err := Snapshot(dir); err != nil || len(envs) != 1 {
		t.Fatalf("Snapshot of a legacy spool = %v, %v", envs, err)
	}

	for restart := range 2 {
		s := newTestStore(t, dir)
		msgs, err := s.Load(context.Background())
		if err != nil || len(msgs) != 1 || msgs[0].ID != a.ID || msgs[0].Recipients[0].State != StateDelivered {
			t.Fatalf("restart %d: Load = %+v, %v", restart, msgs, err)
		}
		if readBody(t, s, a.ID, 0) != plainMessage || readBody(t, s, a.ID, 1) != cipherText {
			t.Errorf("restart %d: bodies changed", restart)
		}
		if env := listDir(t, dir, dirEnv); len(env) != 0 {
			t.Errorf("restart %d: env/ = %v", restart, env)
		}
		_ = s.Close()
	}
	s := newTestStore(t, dir)
	if err := s.Remove(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	assertNoEntry(t, dir)
}

// blockingFS holds the first fsync of a log segment until release is
// closed, and counts log fsyncs.
type blockingFS struct {
	osFS
	mu      sync.Mutex
	syncs   int
	first   chan struct{} // closed when the first fsync starts
	release chan struct{}
}

func (f *blockingFS) Create(name string) (fsutil.File, error) {
	fl, err := f.osFS.Create(name)
	if err != nil || !strings.HasSuffix(name, segSuffix) {
		return fl, err
	}
	return &blockingFile{File: fl, fs: f}, nil
}

type blockingFile struct {
	fsutil.File
	fs *blockingFS
}

func (f *blockingFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.syncs++
	first := f.fs.syncs == 1
	f.fs.mu.Unlock()
	if first {
		close(f.fs.first)
		<-f.fs.release
	}
	return f.File.Sync()
}

// TestGroupCommit holds one Put's fsync while 19 more Puts append: all 19
// are then made durable by a single further fsync, and none returns
// before an fsync covering its record has finished.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	fsys := &blockingFS{first: make(chan struct{}), release: make(chan struct{})}
	s, err := newFileStore(dir, zaptest.NewLogger(t), fsys)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 20
	errs := make(chan error, n)
	put := func() {
		errs <- s.Put(context.Background(), testEnvelope("bob@example.net"), strings.NewReader(plainMessage))
	}
	go put()
	<-fsys.first
	for range n - 1 {
		go put()
	}
	eventually(t, "19 more records appended", func() bool {
		s.w.mu.Lock()
		defer s.w.mu.Unlock()
		return s.w.lsn == n
	})
	select {
	case err := <-errs:
		t.Fatalf("a Put returned before its fsync: %v", err)
	default:
	}
	close(fsys.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.syncs != 2 {
		t.Errorf("%d Puts took %d log fsyncs, want 2", n, fsys.syncs)
	}
}

// TestFsyncFailureLosesNothingAcknowledged fails one log fsync: the Update
// waiting on it fails, the segment is cut back, and after a restart the
// message has its earlier state, not the one that was never durable.
func TestFsyncFailureLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{err: syscall.EIO}
	s, err := newFileStore(dir, zaptest.NewLogger(t), fsys)
	if err != nil {
		t.Fatal(err)
	}
	e := testEnvelope("bob@example.net")
	if err := s.Put(context.Background(), e, strings.NewReader(plainMessage)); err != nil {
		t.Fatal(err)
	}
	rcpts := cloneRecipients(e.Recipients)
	rcpts[0].State = StateDelivered
	fsys.mu.Lock()
	fsys.armed, fsys.failAt, fsys.n = true, 2, 0 // write, then fsync
	fsys.mu.Unlock()
	if err := s.Update(context.Background(), e.ID, rcpts); !errors.Is(err, ErrTemporary) || fsys.firedOp != "fsync" {
		t.Fatalf("Update with a failing fsync: %v (fault on %q)", err, fsys.firedOp)
	}
	fsys.disarm()
	_ = s.Close()
	s2 := newTestStore(t, dir)
	msgs, err := s2.Load(context.Background())
	if err != nil || len(msgs) != 1 || msgs[0].Recipients[0].State != StatePending {
		t.Fatalf("after restart: %+v, %v; want the message still pending", msgs, err)
	}
}

// TestCompaction runs many messages through small segments while one
// message stays queued: the log keeps a bounded number of segments (the
// long-lived message is moved forward once it pins too many), and after a
// restart exactly that message is there, with its latest state.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	s.w.segMax = 4 << 10
	ctx := context.Background()
	long := testEnvelope("slow@example.net")
	mustPut(t, s, long, plainMessage)
	most := 0
	for i := range 200 {
		e := testEnvelope("fast@example.net")
		mustPut(t, s, e, plainMessage)
		if i%50 == 0 {
			r := cloneRecipients(long.Recipients)
			r[0].Attempts = i + 1
			if err := s.Update(ctx, long.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Remove(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(segments(t, dir)))
	}
	if most > maxSegments+2 {
		t.Errorf("the log grew to %d segments with one message queued", most)
	}
	_ = s.Close()
	s2 := newTestStore(t, dir)
	msgs, err := s2.Load(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].ID != long.ID || msgs[0].Recipients[0].Attempts != 151 {
		t.Fatalf("after restart: %+v, %v", msgs, err)
	}
	if readBody(t, s2, long.ID, 0) != plainMessage {
		t.Error("moved body changed")
	}
}

// TestCounterFollowsTheLog counts a spool that changes between calls.
func TestCounterFollowsTheLog(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	c := NewCounter(dir)
	count := func() int {
		n, err := c.Count()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("empty spool: %d", n)
	}
	a, b := testEnvelope("a@example.net"), testEnvelope("b@example.net")
	mustPut(t, s, a, plainMessage)
	mustPut(t, s, b, plainMessage)
	if n := count(); n != 2 {
		t.Fatalf("after two Puts: %d", n)
	}
	if err := s.Remove(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after a Remove: %d", n)
	}
}

// TestRemoveRidesTheNextFsync: a removal is appended without an fsync of
// its own (the next commit carries it, and Close syncs it), except for a
// message with body files, whose record must be durable before they go.
func TestRemoveRidesTheNextFsync(t *testing.T) {
	dir := t.TempDir()
	fsys := &blockingFS{first: make(chan struct{}), release: make(chan struct{})}
	close(fsys.release)
	s, err := newFileStore(dir, zaptest.NewLogger(t), fsys)
	if err != nil {
		t.Fatal(err)
	}
	syncs := func() int {
		fsys.mu.Lock()
		defer fsys.mu.Unlock()
		return fsys.syncs
	}
	ctx := context.Background()
	small, large := testEnvelope("a@example.net"), testEnvelope("b@example.net")
	mustPut(t, s, small, plainMessage)
	mustPut(t, s, large, largeCipher)
	before := syncs()
	if err := s.Remove(ctx, small.ID); err != nil {
		t.Fatal(err)
	}
	if n := syncs() - before; n != 0 {
		t.Errorf("Remove of an inline message took %d fsyncs, want 0", n)
	}
	if err := s.Remove(ctx, large.ID); err != nil {
		t.Fatal(err)
	}
	if n := syncs() - before; n != 1 {
		t.Errorf("Remove of a message with a body file took %d fsyncs in all, want 1", n)
	}
	_ = s.Close()
	assertNoEntry(t, dir)
}

// TestNoCompactionOfLiveSegments: while the oldest segment's messages are
// mostly live (a backlog about to be delivered), nothing is copied: the
// deliveries will free it.
func TestNoCompactionOfLiveSegments(t *testing.T) {
	s := newTestStore(t, t.TempDir())
	s.w.segMax = 4 << 10
	var ids []string
	for range 30 {
		e := testEnvelope("bob@example.net")
		mustPut(t, s, e, plainMessage)
		ids = append(ids, e.ID)
	}
	s.imu.Lock()
	first := s.idx[ids[0]].put
	s.imu.Unlock()
	if err := s.Remove(context.Background(), ids[len(ids)-1]); err != nil {
		t.Fatal(err)
	}
	s.imu.Lock()
	defer s.imu.Unlock()
	if got := s.idx[ids[0]].put; got != first {
		t.Errorf("a message of a mostly live segment was copied forward (segment %d -> %d)", first.seq, got.seq)
	}
}
