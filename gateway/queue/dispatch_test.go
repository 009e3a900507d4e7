package queue

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestDueHeapOrder(t *testing.T) {
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(min int, label string) *entry {
		e := testEnvelope("bob@example.net")
		e.ID = label
		e.Recipients[0].State = StatePending
		e.Recipients[0].NextAttempt = base.Add(time.Duration(min) * time.Minute)
		return &entry{env: e}
	}
	var h dueHeap
	for _, e := range []*entry{at(30, "c"), at(10, "a1"), at(20, "b"), at(10, "a2"), at(0, "z"), at(10, "a3")} {
		h.push(e)
	}
	var got []string
	for h.Len() > 0 {
		got = append(got, h.pop().env.ID)
	}
	if want := "z a1 a2 a3 b c"; strings.Join(got, " ") != want {
		t.Errorf("pop order %q, want %q (earliest first, ties first in)", got, want)
	}
}

func TestNextWake(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		next []time.Duration // NextAttempt of each message, from now
		want time.Duration
	}{
		{"empty queue", nil, idleWait},
		{"earliest wins", []time.Duration{time.Hour / 2, time.Minute, 2 * time.Minute}, time.Minute},
		{"overdue is now", []time.Duration{-time.Minute, time.Minute}, 0},
		{"beyond idleWait", []time.Duration{3 * idleWait}, idleWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := New(Config{Store: newMemStore(), Now: func() time.Time { return now },
				DSN: DSNConfig{ReportingMTA: "gw.example.org"}})
			if err != nil {
				t.Fatal(err)
			}
			var envs []*Envelope
			for _, d := range tt.next {
				e := testEnvelope("bob@example.net")
				e.ID = NewID()
				e.Recipients[0].State = StatePending
				e.Recipients[0].NextAttempt = now.Add(d)
				envs = append(envs, e)
			}
			if got := newDispatcher(q, envs).nextWake(); got != tt.want {
				t.Errorf("nextWake = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEarliestDueFirst: with one worker, overdue messages are delivered in
// the order they fell due, not in map order.
func TestEarliestDueFirst(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Workers = 1 })
	now := time.Now()
	want := make([]string, 5)
	for _, i := range []int{3, 0, 4, 2, 1} {
		e := testEnvelope("bob@example.net")
		e.Recipients[0].Attempts = 1
		e.Recipients[0].NextAttempt = now.Add(-time.Duration(5-i) * time.Minute)
		mustPut(t, h.store, e, plainMessage)
		want[i] = e.ID
	}
	h.run()
	h.waitEmpty()
	h.xmpp.mu.Lock()
	defer h.xmpp.mu.Unlock()
	var got []string
	for _, c := range h.xmpp.calls {
		got = append(got, c.ID)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("delivery order\n got %v\nwant %v", got, want)
	}
}

// TestDispatcherIndex: every message is either idle (in the heap) or with
// a worker, never both, never lost.
func TestDispatcherIndex(t *testing.T) {
	q, err := New(Config{Store: newMemStore(), DSN: DSNConfig{ReportingMTA: "gw.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	var envs []*Envelope
	for range 3 {
		e := testEnvelope("bob@example.net")
		e.ID = NewID()
		e.Recipients[0].State = StatePending
		envs = append(envs, e)
	}
	d := newDispatcher(q, envs)
	d.add(context.Background(), envs) // announced again: no duplicate
	check := func(when string, wantMsgs, wantIdle, wantInflight int) {
		t.Helper()
		if len(d.msgs) != wantMsgs || d.idle.Len() != wantIdle || d.inflight != wantInflight {
			t.Errorf("%s: %d messages, %d idle, %d in flight; want %d, %d, %d",
				when, len(d.msgs), d.idle.Len(), d.inflight, wantMsgs, wantIdle, wantInflight)
		}
	}
	check("loaded", 3, 3, 0)
	held := d.idle.pop() // what dispatch does, without a worker
	d.inflight++
	check("one taken", 3, 2, 1)
	d.finish(context.Background(), result{id: held.env.ID, env: held.env, notBefore: time.Now().Add(time.Hour)})
	check("returned", 3, 3, 0)
	e := d.idle.pop()
	if e.env.ID == held.env.ID {
		t.Error("the message held back by notBefore came out first")
	}
	d.inflight++
	d.finish(context.Background(), result{id: e.env.ID})
	check("removed", 2, 2, 0)
}
