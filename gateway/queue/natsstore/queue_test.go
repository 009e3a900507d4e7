package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"passerelle/gateway/queue"
	"passerelle/internal/natstest"
)

// tally counts deliveries per message id and recipient, across nodes.
type tally struct {
	mu   sync.Mutex
	got  map[string]int // id + " " + addr
	dsns map[string]int // DSN body's Original-Envelope-Id-free key: the failed message's id
}

func newTally() *tally { return &tally{got: map[string]int{}, dsns: map[string]int{}} }

func (t *tally) deliver(node string, fail map[string]bool, hook func(node string, d *queue.Delivery) error) queue.Target {
	return queue.TargetFunc(func(ctx context.Context, d *queue.Delivery) error {
		if hook != nil {
			if err := hook(node, d); err != nil {
				return err
			}
		}
		if fail[d.Recipient.Addr] {
			return queue.Permanent(errors.New("no such user"))
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		t.got[d.ID+" "+d.Recipient.Addr]++
		return nil
	})
}

func (t *tally) bounce() queue.Target {
	return queue.TargetFunc(func(ctx context.Context, d *queue.Delivery) error {
		rc, err := d.OpenBody(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		var b strings.Builder
		if _, err := fmt.Fprint(&b, readAll(rc)); err != nil {
			return err
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		t.dsns[d.ID]++
		return nil
	})
}

func readAll(r interface{ Read([]byte) (int, error) }) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func (t *tally) snapshot() (map[string]int, map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, d := map[string]int{}, map[string]int{}
	for k, v := range t.got {
		g[k] = v
	}
	for k, v := range t.dsns {
		d[k] = v
	}
	return g, d
}

// startNode runs a Queue on s until the test ends.
func startNode(t *testing.T, s *Store, targets map[string]queue.Target) (*queue.Queue, context.CancelFunc) {
	t.Helper()
	q, err := queue.New(queue.Config{Store: s, Targets: targets, Workers: 4,
		RetryInitial: time.Second, RetryMax: 2 * time.Second, ShutdownGrace: time.Second,
		DSN: queue.DSNConfig{ReportingMTA: "mail.example.org"},
		BounceRoute: func(addr string) (string, map[string]string, bool) {
			return "bounce", nil, true
		},
		Log: zaptest.NewLogger(t).Named(s.Node())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return q, stop
}

// Two nodes on one shared queue: every message is delivered once, by one
// node or the other, and each permanent failure gets one DSN.
func TestTwoNodesShareTheQueue(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	a := open(t, "a", c.URLList(), 3, 5*time.Second)
	b := open(t, "b", c.URLList(), 3, 5*time.Second)
	tl := newTally()
	fail := map[string]bool{"nobody@example.net": true}
	var mu sync.Mutex
	byNode := map[string]int{}
	hook := func(node string, d *queue.Delivery) error {
		mu.Lock()
		byNode[node]++
		mu.Unlock()
		return nil
	}
	qa, _ := startNode(t, a, map[string]queue.Target{"xmpp": tl.deliver("a", fail, hook), "bounce": tl.bounce()})
	qb, _ := startNode(t, b, map[string]queue.Target{"xmpp": tl.deliver("b", fail, hook), "bounce": tl.bounce()})
	const n = 60
	var ids []string
	for i := range n {
		e := testEnvelope("bob@example.net")
		if i%10 == 0 {
			e.Recipients = append(e.Recipients, queue.Recipient{Addr: "nobody@example.net", Route: "xmpp"})
		}
		q := qa
		if i%2 == 1 {
			q = qb
		}
		if err := q.Put(context.Background(), e, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		ids = append(ids, e.ID)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, dsns := tl.snapshot()
		if len(got) == n && len(dsns) == n/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d, %d of %d DSNs", len(got), n, len(dsns), n/10)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // anything delivered twice shows up now
	got, dsns := tl.snapshot()
	for _, id := range ids {
		if got[id+" bob@example.net"] != 1 {
			t.Errorf("%s delivered %d times", id, got[id+" bob@example.net"])
		}
	}
	for id, k := range dsns {
		if k != 1 {
			t.Errorf("DSN %s delivered %d times", id, k)
		}
	}
	mu.Lock()
	t.Logf("attempts by node: %v", byNode)
	if byNode["a"] == 0 || byNode["b"] == 0 {
		t.Errorf("one node did all the work: %v", byNode)
	}
	mu.Unlock()
	waitEmpty(t, a)
}

func waitEmpty(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		envs, err := s.Load(context.Background())
		if err == nil && len(envs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty: %d messages, %v", len(envs), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A node that dies in the middle of a delivery: the other node delivers
// the message after the ack wait, and a temporary failure is retried on
// the queue's schedule by whichever node claims it next.
func TestNodeDiesMidDelivery(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	a := open(t, "a", []string{srv.ClientURL}, 1, 2*time.Second)
	b := open(t, "b", []string{srv.ClientURL}, 1, 2*time.Second)
	tl := newTally()
	stuck := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	hookA := func(node string, d *queue.Delivery) error {
		once.Do(func() { close(stuck) })
		<-release
		return errors.New("node a is dead")
	}
	tries := 0
	var tmu sync.Mutex
	hookB := func(node string, d *queue.Delivery) error {
		tmu.Lock()
		defer tmu.Unlock()
		if tries++; tries == 1 {
			return errors.New("temporary failure")
		}
		return nil
	}
	qa, stopA := startNode(t, a, map[string]queue.Target{"xmpp": tl.deliver("a", nil, hookA)})
	e := testEnvelope("bob@example.net")
	if err := qa.Put(context.Background(), e, strings.NewReader("body")); err != nil {
		t.Fatal(err)
	}
	<-stuck
	die(a) // SIGKILL: no more renewals, nothing acknowledged
	close(release)
	stopA()
	startNode(t, b, map[string]queue.Target{"xmpp": tl.deliver("b", nil, hookB)})
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := tl.snapshot()
		if got[e.ID+" bob@example.net"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered by the surviving node (tries %d)", tries)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tmu.Lock()
	if tries != 2 {
		t.Errorf("node b tried %d times, want 2 (a temporary failure, then the retry)", tries)
	}
	tmu.Unlock()
	waitEmpty(t, b)
}

// dieOnReport is a node killed right after it spooled a DSN and before it
// recorded the recipients as reported.
type dieOnReport struct {
	*Store
	once sync.Once
	died chan struct{}
}

func (d *dieOnReport) Update(ctx context.Context, id string, rcpts []queue.Recipient) error {
	for _, r := range rcpts {
		if r.Reported {
			d.once.Do(func() { die(d.Store); close(d.died) })
			return errors.New("killed")
		}
	}
	return d.Store.Update(ctx, id, rcpts)
}

// The DSN is sent once even when the node that spooled it dies before
// recording that: the node taking over spools the same DSN id, which the
// store keeps once.
func TestDSNOnceWhenNodeDiesAfterSpoolingIt(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	a := &dieOnReport{Store: open(t, "a", []string{srv.ClientURL}, 1, 2*time.Second), died: make(chan struct{})}
	b := open(t, "b", []string{srv.ClientURL}, 1, 2*time.Second)
	tl := newTally()
	fail := map[string]bool{"nobody@example.net": true}
	qa, err := queue.New(queue.Config{Store: a, Targets: map[string]queue.Target{"xmpp": tl.deliver("a", fail, nil), "bounce": tl.bounce()},
		DSN: queue.DSNConfig{ReportingMTA: "mail.example.org"}, ShutdownGrace: time.Second,
		BounceRoute: func(string) (string, map[string]string, bool) { return "bounce", nil, true },
		Log:         zaptest.NewLogger(t).Named("a")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = qa.Run(ctx) }()
	e := testEnvelope("nobody@example.net")
	if err := qa.Put(context.Background(), e, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.died:
	case <-time.After(20 * time.Second):
		t.Fatal("node a never reported the failure")
	}
	cancel()
	<-doneA
	startNode(t, b, map[string]queue.Target{"xmpp": tl.deliver("b", fail, nil), "bounce": tl.bounce()})
	waitEmpty(t, b)
	time.Sleep(time.Second)
	_, dsns := tl.snapshot()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs delivered (%v), want exactly one", len(dsns), dsns)
	}
	for id, n := range dsns {
		if n != 1 {
			t.Fatalf("DSN %s delivered %d times", id, n)
		}
	}
}
