package queue

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// script is a fake Target: it answers attempts with errs in turn, the
// last one repeating (none: success), and records every call.
type script struct {
	mu    sync.Mutex
	errs  []error
	calls []Delivery
}

func (s *script) Deliver(ctx context.Context, d *Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, *d)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	if len(s.errs) > 1 {
		s.errs = s.errs[1:]
	}
	return err
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// dsnSink is the bounce target: it reads each DSN it is given.
type dsnSink struct {
	mu   sync.Mutex
	dsns []sunkDSN
}

type sunkDSN struct {
	d    Delivery
	body []byte
}

func (s *dsnSink) Deliver(ctx context.Context, d *Delivery) error {
	rc, err := d.OpenBody(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dsns = append(s.dsns, sunkDSN{d: *d, body: body})
	return nil
}

func (s *dsnSink) get() []sunkDSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkDSN(nil), s.dsns...)
}

type harness struct {
	t     *testing.T
	dir   string
	store *FileStore
	q     *Queue
	xmpp  *script
	sink  *dsnSink
	stop  func()
}

func newHarness(t *testing.T, tweak func(*Config)) *harness {
	h := &harness{t: t, dir: t.TempDir(), xmpp: &script{}, sink: &dsnSink{}}
	h.store = newTestStore(t, h.dir)
	cfg := Config{
		Store:        h.store,
		Targets:      map[string]Target{"xmpp": h.xmpp, "bounce": h.sink},
		RetryInitial: 5 * time.Millisecond,
		RetryMax:     20 * time.Millisecond,
		Lifetime:     time.Hour,
		Rand:         func() float64 { return 0.5 },
		Log:          zaptest.NewLogger(t),
		DSN:          DSNConfig{ReportingMTA: "gw.example.org"},
		BounceRoute: func(addr string) (string, map[string]string, bool) {
			return "bounce", map[string]string{"to": addr}, true
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	q, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.q = q
	return h
}

// run starts the queue; the test's cleanup (or h.stop) stops it.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.q.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(h.stop)
}

// waitEmpty waits until the store holds no message.
func (h *harness) waitEmpty() {
	h.t.Helper()
	eventually(h.t, "an empty spool", func() bool {
		msgs, err := h.store.Load(context.Background())
		return err == nil && len(msgs) == 0
	})
}

// waitDSNs waits for n DSNs, then checks no more arrive for a moment.
func (h *harness) waitDSNs(n int) []sunkDSN {
	h.t.Helper()
	eventually(h.t, "DSNs", func() bool { return len(h.sink.get()) >= n })
	time.Sleep(50 * time.Millisecond)
	got := h.sink.get()
	if len(got) != n {
		h.t.Fatalf("got %d DSNs, want %d", len(got), n)
	}
	return got
}
