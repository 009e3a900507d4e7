package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"passerelle/gateway/queue"
)

func TestPrintQueue(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	envs := []*queue.Envelope{{ID: "abc", From: "", Received: now.Add(-time.Hour), Recipients: []queue.Recipient{
		{Addr: "alice@example.org", Route: "xmpp", State: queue.StatePending, Attempts: 3,
			NextAttempt: now.Add(90 * time.Second), LastError: "xmpp: not connected\nsecond line"},
		{Addr: "bob@example.org", Route: "xmpp", State: queue.StateDelivered, Attempts: 1},
	}}}
	var out bytes.Buffer
	printQueue(&out, envs, []queue.Damaged{{ID: "zz", Reason: "bad json"}}, now)
	for _, want := range []string{"abc", "1h0m0s", "<>", "alice@example.org", "pending", "in 1m30s",
		"xmpp: not connected second line", "delivered", "1 message(s), 1 recipient(s) pending", "unreadable envelope zz"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
