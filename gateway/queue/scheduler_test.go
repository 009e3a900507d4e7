package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTemporaryThenSuccess(t *testing.T) {
	h := newHarness(t, nil)
	h.xmpp.errs = []error{errors.New("stream down"), RetryAfter(errors.New("reconnecting"), time.Millisecond), nil}
	h.run()
	e := testEnvelope("bob@example.net")
	mustPut(t, h.q, e, plainMessage)
	h.waitEmpty()
	if n := h.xmpp.count(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	last := h.xmpp.calls[2]
	if last.ID != e.ID || last.Recipient.Addr != "bob@example.net" || last.Recipient.Params["jid"] != "bob@example.net" ||
		last.Recipient.Attempts != 2 || last.Body.Kind != BodyMessage {
		t.Errorf("delivery = %+v", last)
	}
	h.waitDSNs(0)
}

func TestPermanentFailureOneDSN(t *testing.T) {
	h := newHarness(t, nil)
	h.xmpp.errs = []error{
		WithDiagnostic(Permanent(errors.New("no such user")), Diagnostic{Status: "5.1.1", Type: "smtp", Text: "550 5.1.1 no such user"}),
		Permanent(errors.New("recipient refused")),
		nil,
	}
	h.run()
	e := testEnvelope("bob@example.net", "carol@example.net", "dave@example.net")
	e.EnvID = "env-42"
	mustPut(t, h.q, e, plainMessage)
	dsns := h.waitDSNs(1)
	h.waitEmpty()

	d := dsns[0]
	if d.d.From != "" || !d.d.IsDSN || d.d.Recipient.Addr != "alice@example.org" || d.d.Recipient.Params["to"] != "alice@example.org" {
		t.Errorf("DSN envelope = %+v", d.d)
	}
	rep := parseReport(t, d.body)
	if len(rep.recipients) != 2 {
		t.Fatalf("DSN reports %d recipients, want 2 (one DSN per pass)", len(rep.recipients))
	}
	wantStatus := map[string]string{"rfc822; bob@example.net": "5.1.1", "rfc822; carol@example.net": "5.0.0"}
	for _, r := range rep.recipients {
		if r["Status"] != wantStatus[r["Final-Recipient"]] || r["Action"] != "failed" {
			t.Errorf("recipient fields %v", r)
		}
	}
	if rep.recipients[0]["Diagnostic-Code"] != "smtp; 550 5.1.1 no such user" {
		t.Errorf("Diagnostic-Code = %q", rep.recipients[0]["Diagnostic-Code"])
	}
	if rep.message["Original-Envelope-Id"] != "env-42" || rep.message["Reporting-Mta"] != "dns; gw.example.org" {
		t.Errorf("per-message fields %v", rep.message)
	}
	if strings.Contains(string(d.body), "SECRET BODY") {
		t.Error("DSN contains message content")
	}
	if !strings.Contains(rep.headers, "Subject: quarterly numbers") {
		t.Errorf("DSN lacks the original header: %q", rep.headers)
	}
}

func TestExpiryDSN(t *testing.T) {
	tests := []struct {
		name         string
		lifetime     time.Duration
		age          time.Duration // how old the message is when spooled
		wantAttempts int           // exact, or 0 for "at least one"
	}{
		{"lifetime passes while retrying", 60 * time.Millisecond, 0, 0},
		{"message older than its lifetime gets one last attempt", time.Hour, 2 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Lifetime = tt.lifetime })
			h.xmpp.errs = []error{errors.New("server unreachable")}
			h.run()
			e := testEnvelope("bob@example.net")
			e.Received = time.Now().Add(-tt.age)
			mustPut(t, h.q, e, plainMessage)
			dsns := h.waitDSNs(1)
			h.waitEmpty()
			rep := parseReport(t, dsns[0].body)
			if s := rep.recipients[0]["Status"]; s != "4.4.7" || rep.recipients[0]["Action"] != "failed" {
				t.Errorf("expiry Status = %q, want 4.4.7", s)
			}
			if !strings.Contains(rep.human, "server unreachable") {
				t.Errorf("human part lacks the last error: %q", rep.human)
			}
			if n := h.xmpp.count(); n == 0 || tt.wantAttempts != 0 && n != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", n, tt.wantAttempts)
			}
		})
	}
}

// TestExpiryStatus: a recipient that expires after temporary failures
// naming an ExpiryStatus (a full mailbox: 4.2.2, then 5.2.2) is bounced
// with that status instead of 4.4.7.
func TestExpiryStatus(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Lifetime = 60 * time.Millisecond })
	h.xmpp.errs = []error{WithDiagnostic(errors.New("mailbox full"),
		Diagnostic{Status: "4.2.2", ExpiryStatus: "5.2.2", Type: "x-xmpp", Text: "service-unavailable"})}
	h.run()
	mustPut(t, h.q, testEnvelope("bob@example.net"), plainMessage)
	dsns := h.waitDSNs(1)
	h.waitEmpty()
	rep := parseReport(t, dsns[0].body)
	if s := rep.recipients[0]["Status"]; s != "5.2.2" || rep.recipients[0]["Action"] != "failed" {
		t.Errorf("expiry Status = %q, want 5.2.2", s)
	}
}

func TestNoDSN(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *Envelope)
	}{
		{"null sender", func(e *Envelope) { e.From = "" }},
		{"DSN about a DSN", func(e *Envelope) { e.From, e.IsDSN = "", true }},
		{"DSN flag with a sender", func(e *Envelope) { e.IsDSN = true }},
		{"NOTIFY=NEVER", func(e *Envelope) { e.Recipients[0].Notify = []string{"NEVER"} }},
		{"NOTIFY=DELAY only", func(e *Envelope) { e.Recipients[0].Notify = []string{"DELAY"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.xmpp.errs = []error{Permanent(errors.New("refused"))}
			h.run()
			e := testEnvelope("bob@example.net")
			tt.mutate(e)
			mustPut(t, h.q, e, plainMessage)
			h.waitEmpty()
			h.waitDSNs(0)
		})
	}
}

func TestUnknownRouteFailsPermanently(t *testing.T) {
	h := newHarness(t, nil)
	h.run()
	e := testEnvelope("bob@example.net")
	e.Recipients[0].Route = "carrier-pigeon"
	mustPut(t, h.q, e, plainMessage)
	rep := parseReport(t, h.waitDSNs(1)[0].body)
	if s := rep.recipients[0]["Status"]; s != "5.4.4" {
		t.Errorf("Status = %q, want 5.4.4", s)
	}
}

func TestOpaqueBodyNotQuoted(t *testing.T) {
	h := newHarness(t, nil)
	h.xmpp.errs = []error{Permanent(errors.New("refused"))}
	h.run()
	e := testEnvelope("bob@example.net")
	e.Bodies[0].Kind = BodyOpaque
	mustPut(t, h.q, e, "Subject: looks like a header\r\n\r\n"+cipherText)
	rep := parseReport(t, h.waitDSNs(1)[0].body)
	if rep.headers != "" || rep.parts != 2 {
		t.Errorf("DSN quotes an opaque body: %d parts, headers %q", rep.parts, rep.headers)
	}
}

func TestUnroutableDSNQuarantined(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BounceRoute = nil })
	h.xmpp.errs = []error{Permanent(errors.New("refused"))}
	h.run()
	mustPut(t, h.q, testEnvelope("bob@example.net"), plainMessage)
	h.waitEmpty()
	eventually(t, "a quarantined DSN", func() bool { return len(listDir(t, h.dir, dirQuarantine)) == 1 })
}

func TestResumeAfterRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.xmpp.errs = []error{errors.New("down")}
	h.run()
	e := testEnvelope("bob@example.net", "carol@example.net")
	mustPut(t, h.q, e, plainMessage)
	eventually(t, "two failed attempts", func() bool { return h.xmpp.count() >= 4 })
	h.stop()

	msgs, err := h.store.Load(context.Background())
	if err != nil || len(msgs) != 1 {
		t.Fatalf("after stop: %v, %v", msgs, err)
	}
	for _, r := range msgs[0].Recipients {
		if r.State != StatePending || r.Attempts < 1 || r.NextAttempt.IsZero() || r.LastError != "down" {
			t.Errorf("persisted state %+v", r)
		}
	}
	h2 := newHarness(t, func(c *Config) { c.Store = h.store })
	h2.store = h.store
	h2.run()
	h2.waitEmpty()
	if h2.xmpp.count() != 2 {
		t.Errorf("after restart: %d deliveries, want 2", h2.xmpp.count())
	}
}

// TestUnreportedFailureResumes covers a crash after a failure was
// persisted but before its DSN was spooled.
func TestUnreportedFailureResumes(t *testing.T) {
	h := newHarness(t, nil)
	e := testEnvelope("bob@example.net")
	e.Recipients[0].State, e.Recipients[0].LastError = StateFailed, "refused"
	mustPut(t, h.store, e, plainMessage)
	h.run()
	h.waitDSNs(1)
	h.waitEmpty()
	if h.xmpp.count() != 0 {
		t.Error("a failed recipient was attempted again")
	}
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	h := newHarness(t, func(c *Config) { c.ShutdownGrace = 20 * time.Millisecond })
	h.q.cfg.Targets["xmpp"] = TargetFunc(func(ctx context.Context, d *Delivery) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	h.run()
	e := testEnvelope("bob@example.net")
	mustPut(t, h.q, e, plainMessage)
	<-started
	begin := time.Now()
	h.stop()
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	msgs, err := h.store.Load(context.Background())
	if err != nil || len(msgs) != 1 || msgs[0].Recipients[0].State != StatePending || msgs[0].Recipients[0].Attempts != 0 {
		t.Fatalf("after shutdown: %+v, %v; want the message pending, attempt not counted", msgs, err)
	}
}

func TestTargetPanicIsTemporary(t *testing.T) {
	h := newHarness(t, nil)
	calls := 0
	h.q.cfg.Targets["xmpp"] = TargetFunc(func(ctx context.Context, d *Delivery) error {
		calls++ // one worker per message: no race
		if calls == 1 {
			panic("boom")
		}
		return nil
	})
	h.run()
	mustPut(t, h.q, testEnvelope("bob@example.net"), plainMessage)
	h.waitEmpty()
	h.waitDSNs(0)
}

func TestDamagedBodyQuarantinedAtDelivery(t *testing.T) {
	h := newHarness(t, nil)
	h.q.cfg.Targets["xmpp"] = TargetFunc(func(ctx context.Context, d *Delivery) error {
		rc, err := d.OpenBody(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = readAll(rc)
		return err
	})
	e := testEnvelope("bob@example.net")
	mustPut(t, h.store, e, plainMessage)
	damageBody(t, h.store, e.ID, 0)
	h.run()
	h.waitEmpty()
	eventually(t, "quarantine", func() bool { return contains(listDir(t, h.dir, dirQuarantine), e.ID) })
	// M5: the sender got 250, so the sender hears of it; the damaged body
	// is not quoted.
	dsns := h.waitDSNs(1)
	rep := parseReport(t, dsns[0].body)
	if s := rep.recipients[0]["Status"]; s != "5.3.0" || rep.recipients[0]["Action"] != "failed" {
		t.Errorf("Status %q Action %q, want 5.3.0 failed", s, rep.recipients[0]["Action"])
	}
	if !strings.Contains(rep.human, damagedText) {
		t.Errorf("human part lacks the reason: %q", rep.human)
	}
	if rep.headers != "" {
		t.Errorf("DSN quotes the damaged body's header: %q", rep.headers)
	}
}

// panicError panics when its text is asked for: a deterministic panic in
// the queue's own code (outside the target's recover) on every pass.
type panicError struct{}

func (panicError) Error() string { panic("error text unavailable") }

// TestDeterministicPanic is L7: a message whose processing panics on every
// pass counts each as an attempt (so lifetime and expiry apply) and is
// quarantined with a DSN after maxPanics, never retried forever.
func TestDeterministicPanic(t *testing.T) {
	tests := []struct {
		name           string
		age            time.Duration
		wantStatus     string
		wantQuarantine bool
		wantAttempts   int
	}{
		{"quarantined after maxPanics", 0, "5.3.0", true, maxPanics},
		{"expired message bounced at its first panic", 2 * time.Hour, "4.4.7", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.q.cfg.Targets["xmpp"] = TargetFunc(func(ctx context.Context, d *Delivery) error {
				return panicError{}
			})
			e := testEnvelope("bob@example.net")
			e.Received = time.Now().Add(-tt.age)
			h.run()
			mustPut(t, h.q, e, plainMessage)
			dsns := h.waitDSNs(1)
			h.waitEmpty()
			rep := parseReport(t, dsns[0].body)
			if s := rep.recipients[0]["Status"]; s != tt.wantStatus {
				t.Errorf("Status %q, want %s", s, tt.wantStatus)
			}
			inQ := contains(listDir(t, h.dir, dirQuarantine), e.ID)
			if inQ != tt.wantQuarantine {
				t.Fatalf("quarantined = %v, want %v", inQ, tt.wantQuarantine)
			}
			if inQ {
				data, err := os.ReadFile(filepath.Join(h.dir, dirQuarantine, e.ID, e.ID+".json"))
				if err != nil {
					t.Fatal(err)
				}
				q, err := decodeEnvelope(data)
				if err != nil {
					t.Fatal(err)
				}
				if r := q.Recipients[0]; r.Attempts != tt.wantAttempts || r.LastError != panicText {
					t.Errorf("stored recipient %+v, want %d attempts and %q", r, tt.wantAttempts, panicText)
				}
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, nil)
	h.run()
	eventually(t, "Run to start", h.q.running.Load)
	if err := h.q.Run(context.Background()); err == nil {
		t.Error("a second Run started")
	}
}

// blockingTarget holds every delivery until release is closed.
type blockingTarget struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingTarget) Deliver(ctx context.Context, d *Delivery) error {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBusyWorkersDoNotSpin: with every worker busy and more messages due,
// the dispatcher waits for a result instead of looping on an expired timer
// (it once burnt two thirds of the gateway's CPU that way).
func TestBusyWorkersDoNotSpin(t *testing.T) {
	bt := &blockingTarget{started: make(chan struct{}, 10), release: make(chan struct{})}
	h := newHarness(t, func(c *Config) { c.Workers = 1; c.Targets["xmpp"] = bt })
	h.run()
	for i := 0; i < 5; i++ {
		mustPut(t, h.q, testEnvelope("bob@example.net"), plainMessage)
	}
	<-bt.started // the one worker is busy; four messages are due
	before := h.q.loops.Load()
	time.Sleep(200 * time.Millisecond)
	if n := h.q.loops.Load() - before; n > 10 {
		t.Errorf("dispatcher looped %d times in 200ms with nothing it could start", n)
	}
	close(bt.release)
	for i := 0; i < 4; i++ {
		<-bt.started
	}
	h.waitEmpty()
}

// countingStore counts the state writes a Store is asked for.
type countingStore struct {
	Store
	mu      sync.Mutex
	updates int
}

func (c *countingStore) Update(ctx context.Context, id string, rcpts []Recipient) error {
	c.mu.Lock()
	c.updates++
	c.mu.Unlock()
	return c.Store.Update(ctx, id, rcpts)
}

// TestDeliveredMessageNotRewritten: a message whose last recipient is
// delivered is removed without first writing its final state (one log
// record and no fsync wait instead of two); one still pending is written.
func TestDeliveredMessageNotRewritten(t *testing.T) {
	var cs *countingStore
	h := newHarness(t, func(c *Config) { cs = &countingStore{Store: c.Store}; c.Store = cs })
	h.run()
	mustPut(t, h.q, testEnvelope("bob@example.net"), plainMessage)
	h.waitEmpty()
	cs.mu.Lock()
	n := cs.updates
	cs.mu.Unlock()
	if n != 0 {
		t.Errorf("a delivered message took %d state writes before its removal, want 0", n)
	}
}
