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
		{Addr: "carol@home.example", Route: "relay", State: queue.StatePending, Params: map[string]string{"peer-jid": "home@hub.example"}},
		{Addr: "dave@far.example", Route: "relay-up", State: queue.StatePending, Params: map[string]string{"peer-jid": "mail.hub.example"}},
	}}}
	var out bytes.Buffer
	printQueue(&out, envs, []queue.Damaged{{ID: "zz", Reason: "bad json"}}, now)
	for _, want := range []string{"abc", "1h0m0s", "<>", "alice@example.org", "pending", "in 1m30s",
		"xmpp: not connected second line", "delivered", "relay client home@hub.example", "relay hub mail.hub.example", "1 message(s), 3 recipient(s) pending", "unreadable envelope zz"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
