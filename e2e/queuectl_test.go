package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// queueCLI runs `passerelle queue ARGS -c CONFIG` against the test's gateway.
func queueCLI(t *testing.T, g *gateway, args ...string) string {
	t.Helper()
	out, err := queueCLIErr(g, args...)
	if err != nil {
		t.Fatalf("passerelle queue %v: %v\n%s", args, err, out)
	}
	return out
}

func queueCLIErr(g *gateway, args ...string) (string, error) {
	all := append([]string{"queue"}, args[0], "-c", g.path)
	out, err := exec.Command(binary, append(all, args[1:]...)...).CombinedOutput()
	return string(out), err
}

// eventually polls cond for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var queueIDRe = regexp.MustCompile(`(?m)^([a-z2-7]{26})\s`)

// queueIDs lists the spool's message ids, oldest first.
func queueIDs(t *testing.T, g *gateway) []string {
	t.Helper()
	var ids []string
	for _, m := range queueIDRe.FindAllStringSubmatch(queueCLI(t, g, "list"), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

var nextTryRe = regexp.MustCompile(`next try: (\S+)`)

// TestQueueControl drives retry, hold, release and delete against a running
// gateway over its control socket: mail queued while Prosody is down, then
// handled one way each.
func TestQueueControl(t *testing.T) {
	sink := startSink(t)
	env := newOpsEnv(t, func(c *gwConfig) {
		c.RetryInitial, c.RetryMax = "1h", "1h" // nothing is retried by itself during the test
		c.Extra = fmt.Sprintf("[delivery.smarthost]\naddr = %q\ntls = \"none\"\n", sink.addr)
	})
	if err := env.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	env.waitMetric(t, "passerelle_xmpp_link_up", 0)
	tag := fmt.Sprintf("%x", time.Now().UnixNano())
	names := []string{"held", "deleted", "silent", "retried"}
	for _, n := range names {
		swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--body", n+"-"+tag)
	}
	ids := queueIDs(t, env.gw)
	if len(ids) != len(names) {
		t.Fatalf("queue holds %d messages, want %d", len(ids), len(names))
	}
	id := map[string]string{}
	for i, n := range names {
		id[n] = ids[i]
	}
	// Each has had its first (failed) try; the next is 30 s away at least.
	var next time.Time
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := queueCLI(t, env.gw, "show", id["retried"])
		if m := nextTryRe.FindStringSubmatch(out); m != nil && strings.Contains(out, "attempts: 1") {
			var err error
			if next, err = time.Parse(time.RFC3339, m[1]); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed first try:\n%s", out)
		}
	}
	env.waitMetric(t, `passerelle_delivery_attempts_total{result="temporary",route="xmpp"}`, 4)

	if out := queueCLI(t, env.gw, "hold", id["held"]); !strings.Contains(out, "held") {
		t.Errorf("hold: %s", out)
	}
	queueCLI(t, env.gw, "delete", "--silent", id["silent"])
	queueCLI(t, env.gw, "delete", id["deleted"])
	dsn := sink.wait(t, "deleted from the queue by the operator", 30*time.Second)
	if !strings.Contains(dsn.header("Subject"), "Undelivered") {
		t.Errorf("DSN subject %q", dsn.header("Subject"))
	}
	// Both deleted messages have left the spool: nothing more can be sent
	// about them, so this DSN is the only one.
	eventually(t, "deleted messages gone", func() bool { return len(queueIDs(t, env.gw)) == 2 })
	if n := sink.count(); n != 1 {
		t.Errorf("sink holds %d messages, want the one DSN", n)
	}

	if err := env.srv.StartAgain(); err != nil {
		t.Fatal(err)
	}
	env.waitMetric(t, "passerelle_xmpp_link_up", 1)
	alice := newInbox(ctxT(t, time.Minute), t, env.srv, "alice", "alice-pw")
	queueCLI(t, env.gw, "retry", id["retried"])
	alice.next(t, 30*time.Second)
	if arrived := time.Now(); !arrived.Before(next) {
		t.Errorf("retried mail arrived at %v, not before its scheduled try at %v", arrived, next)
	}
	// The held message was not tried while the link was up, and retry
	// --all leaves it held.
	if out := queueCLI(t, env.gw, "retry", "--all"); !strings.Contains(out, "0 message(s) due now") {
		t.Errorf("retry --all: %s", out)
	}
	if out := queueCLI(t, env.gw, "show", id["held"]); !strings.Contains(out, "pending, held") || !strings.Contains(out, "attempts: 1") {
		t.Errorf("held message:\n%s", out)
	}
	queueCLI(t, env.gw, "release", id["held"])
	alice.next(t, 30*time.Second)
	eventually(t, "an empty queue", func() bool { return len(queueIDs(t, env.gw)) == 0 })
	if out, err := queueCLIErr(env.gw, "show", id["held"]); err == nil || !strings.Contains(out, "no such message") {
		t.Errorf("show after delivery: %v %s", err, out)
	}
}
