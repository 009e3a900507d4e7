package queue

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// spooledDSNs returns the bodies of the DSNs in the store, but for the
// message not.
func spooledDSNs(t *testing.T, s *FileStore, not string) []string {
	t.Helper()
	msgs, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if !m.IsDSN || m.ID == not {
			continue
		}
		rc, err := s.OpenBody(context.Background(), m.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestDelayNotice drives passes over one message on a fake clock: a
// recipient still pending after DelayWarning gets its sender exactly one
// delay notice, also across a restart (the envelope reloaded from disk),
// and none where RFC 3461 and RFC 5321 say not to.
func TestDelayNotice(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tempErr := WithDiagnostic(errors.New("connection refused"), Diagnostic{Status: "4.4.1", Type: "smtp", Text: "mx.other.example: connection refused"})
	tests := []struct {
		name       string
		warn       time.Duration
		mutate     func(e *Envelope)
		deliverAt  time.Duration // when the target starts succeeding; 0: never
		wantNotice int
	}{
		{"pending past the warning: one notice", 4 * time.Hour, nil, 0, 1},
		{"NOTIFY=DELAY", 4 * time.Hour, func(e *Envelope) { e.Recipients[0].Notify = []string{"DELAY"} }, 0, 1},
		{"NOTIFY=FAILURE excludes it", 4 * time.Hour, func(e *Envelope) { e.Recipients[0].Notify = []string{"FAILURE"} }, 0, 0},
		{"NOTIFY=NEVER", 4 * time.Hour, func(e *Envelope) { e.Recipients[0].Notify = []string{"NEVER"} }, 0, 0},
		{"null sender", 4 * time.Hour, func(e *Envelope) { e.From = "" }, 0, 0},
		{"about a DSN", 4 * time.Hour, func(e *Envelope) { e.IsDSN = true; e.From = "" }, 0, 0},
		{"warning off", 0, nil, 0, 0},
		{"delivered before the warning", 4 * time.Hour, nil, 3 * time.Hour, 0},
	}
	passes := []time.Duration{0, time.Hour, 3 * time.Hour, 4*time.Hour + time.Minute, 6 * time.Hour, 10 * time.Hour}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			h := newHarness(t, func(c *Config) { c.Now = clock.Now; c.DelayWarning = tt.warn; c.Lifetime = 5 * 24 * time.Hour })
			var mu sync.Mutex
			deliver := false
			h.q.cfg.Targets["xmpp"] = TargetFunc(func(context.Context, *Delivery) error {
				mu.Lock()
				defer mu.Unlock()
				if deliver {
					return nil
				}
				return tempErr
			})
			e := testEnvelope("bob@example.net")
			e.Received = t0
			if tt.mutate != nil {
				tt.mutate(e)
			}
			mustPut(t, h.store, e, plainMessage)
			for n, at := range passes {
				clock.set(t0.Add(at))
				mu.Lock()
				deliver = tt.deliverAt != 0 && at >= tt.deliverAt
				mu.Unlock()
				// Every pass starts from disk, as after a restart.
				msgs, err := h.store.Load(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				var cur *Envelope
				for _, m := range msgs {
					if m.ID == e.ID {
						cur = m
					}
				}
				if cur == nil {
					break // delivered and removed
				}
				for i := range cur.Recipients {
					cur.Recipients[i].NextAttempt = time.Time{} // due now
				}
				res := h.q.process(context.Background(), context.Background(), cur)
				if res.env != nil && !res.notBefore.IsZero() {
					t.Fatalf("pass %d: store error", n)
				}
			}
			dsns := spooledDSNs(t, h.store, e.ID)
			if len(dsns) != tt.wantNotice {
				t.Fatalf("%d notices, want %d", len(dsns), tt.wantNotice)
			}
			if tt.wantNotice == 0 {
				return
			}
			rep := parseReport(t, []byte(dsns[0]))
			r := rep.recipients[0]
			if r["Action"] != "delayed" || r["Status"] != "4.4.1" || r["Will-Retry-Until"] == "" {
				t.Errorf("recipient fields %v, want Action delayed, Status 4.4.1, Will-Retry-Until", r)
			}
			if !strings.Contains(rep.human, "not yet been delivered") || !strings.Contains(rep.human, "connection refused") {
				t.Errorf("human part %q", rep.human)
			}
			if !strings.Contains(rep.header.Get("Subject"), "Delayed") {
				t.Errorf("Subject %q", rep.header.Get("Subject"))
			}
		})
	}
}

// TestDelayWarningIsDue: an idle message owing a warning is due at
// Received+DelayWarning even when its next attempt is later.
func TestDelayWarningIsDue(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := testEnvelope("bob@example.net")
	e.Received = t0
	e.Recipients[0].State = StatePending
	e.Recipients[0].NextAttempt = t0.Add(6 * time.Hour)
	tests := []struct {
		name     string
		warn     time.Duration
		reported bool
		want     time.Time
	}{
		{"warning owed first", 4 * time.Hour, false, t0.Add(4 * time.Hour)},
		{"warning already sent", 4 * time.Hour, true, t0.Add(6 * time.Hour)},
		{"warnings off", 0, false, t0.Add(6 * time.Hour)},
		{"warning after the next attempt", 8 * time.Hour, false, t0.Add(6 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.Clone()
			c.Recipients[0].DelayReported = tt.reported
			if got := (&entry{env: c}).dueAt(tt.warn); !got.Equal(tt.want) {
				t.Errorf("dueAt = %v, want %v", got, tt.want)
			}
		})
	}
}
