package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// queuedAfterFailure runs a harness whose first attempt fails and whose
// retry would come in an hour, and returns it with the message's id once
// that failure is recorded.
func queuedAfterFailure(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, func(c *Config) { c.RetryInitial, c.RetryMax = time.Hour, time.Hour })
	h.xmpp.errs = []error{errors.New("link down"), nil}
	h.run()
	e := testEnvelope("bob@example.net")
	mustPut(t, h.q, e, plainMessage)
	eventually(t, "the first attempt", func() bool {
		got, err := h.q.Show(context.Background(), e.ID)
		return err == nil && got.Recipients[0].Attempts == 1
	})
	return h, e.ID
}

func TestControlRetryDeliversNow(t *testing.T) {
	h, id := queuedAfterFailure(t)
	n, err := h.q.Retry(context.Background(), id)
	if err != nil || n != 1 {
		t.Fatalf("Retry = %d, %v", n, err)
	}
	h.waitEmpty() // an hour early
	if h.xmpp.count() != 2 {
		t.Errorf("%d attempts, want 2", h.xmpp.count())
	}
}

func TestControlHoldIsDurableAndRelease(t *testing.T) {
	h, id := queuedAfterFailure(t)
	ctx := context.Background()
	if err := h.q.Hold(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, err := h.q.Retry(ctx, ""); err != nil || n != 0 {
		t.Errorf("Retry all with the only message held = %d, %v; want 0", n, err)
	}
	h.stop()
	msgs, err := h.store.Load(ctx)
	if err != nil || len(msgs) != 1 || !msgs[0].Recipients[0].Held {
		t.Fatalf("held state not stored: %+v, %v", msgs, err)
	}
	// A restart keeps it held: the gateway loads it and does not try it.
	h2 := newHarness(t, func(c *Config) { c.Store = h.store })
	h2.store = h.store
	h2.run()
	got, err := h2.q.Show(ctx, id)
	if err != nil || !got.Recipients[0].Held || got.Recipients[0].Attempts != 1 {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if err := h2.q.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	h2.waitEmpty()
	if h.xmpp.count()+h2.xmpp.count() != 2 {
		t.Errorf("attempts = %d + %d, want 2 in all", h.xmpp.count(), h2.xmpp.count())
	}
}

func TestControlDeleteSendsOneDSN(t *testing.T) {
	h, id := queuedAfterFailure(t)
	if err := h.q.Delete(context.Background(), id, false); err != nil {
		t.Fatal(err)
	}
	h.waitEmpty()
	dsns := h.sink.get()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	rep := parseReport(t, dsns[0].body)
	if len(rep.recipients) != 1 || rep.recipients[0]["Status"] != "5.0.0" || rep.recipients[0]["Action"] != "failed" {
		t.Errorf("DSN recipients %v", rep.recipients)
	}
	if !strings.Contains(string(dsns[0].body), "deleted from the queue by the operator") {
		t.Errorf("DSN does not say why:\n%s", dsns[0].body)
	}
}

func TestControlDeleteSilent(t *testing.T) {
	h, id := queuedAfterFailure(t)
	ctx := context.Background()
	if err := h.q.Delete(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	// Removed before Delete returned: nothing is left to send a DSN for.
	if msgs, err := h.store.Load(ctx); err != nil || len(msgs) != 0 {
		t.Fatalf("store after a silent delete: %v, %v", msgs, err)
	}
	if _, err := h.q.Show(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show after delete: %v, want ErrNotFound", err)
	}
	if n := len(h.sink.get()); n != 0 {
		t.Errorf("%d DSNs after a silent delete", n)
	}
}

func TestControlUnknownID(t *testing.T) {
	h := newHarness(t, nil)
	h.run()
	ctx := context.Background()
	for name, err := range map[string]error{
		"hold": h.q.Hold(ctx, "nope"), "release": h.q.Release(ctx, "nope"), "delete": h.q.Delete(ctx, "nope", false),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}
