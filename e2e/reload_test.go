package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logCount counts the process log's lines containing s.
func (g *gateway) logCount(s string) int {
	b, _ := os.ReadFile(filepath.Join(g.cfg.Dir, "passerelle.log"))
	return bytes.Count(b, []byte(s))
}

// hup rewrites the configuration file with edit, sends SIGHUP and waits
// for the log line (the n-th of its kind) that answers it.
func (g *gateway) hup(t *testing.T, edit func(string) string, answer string) {
	t.Helper()
	b, err := os.ReadFile(g.path)
	if err != nil {
		t.Fatal(err)
	}
	before := g.logCount(answer)
	if err := os.WriteFile(g.path, []byte(edit(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); g.logCount(answer) == before; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after SIGHUP", answer)
		}
	}
}

// TestReloadDirectory: SIGHUP picks up a new directory entry; a broken
// file is refused with every problem logged, and the gateway keeps
// serving with the configuration it had.
func TestReloadDirectory(t *testing.T) {
	env := newOpsEnv(t, func(c *gwConfig) {
		c.Top = "directory_complete = true"
		c.Extra = "[directory]\n\"alice@example.org\" = \"alice@example.org\"\n"
	})
	importKey(t, env.gw, newUserKey(t, "carol@example.org"))
	if out := swaks(t, env.gw.cfg.MXAddr, "carol@example.org", false); !strings.Contains(out, "5.1.1") {
		t.Fatalf("carol before the reload: want 550 5.1.1:\n%s", out)
	}
	addCarol := func(s string) string {
		return strings.Replace(s, "[directory]\n", "[directory]\n\"carol@example.org\" = \"carol@example.org\"\n", 1)
	}
	carol := newInbox(ctxT(t, time.Minute), t, env.srv, "carol", "carol-pw")
	env.gw.hup(t, addCarol, "configuration reloaded")
	swaks(t, env.gw.cfg.MXAddr, "carol@example.org", true, "--body", "after the reload")
	carol.next(t, 30*time.Second)

	// Two problems in one file: both are logged, nothing changes.
	broken := func(s string) string {
		s = strings.Replace(s, "[directory]\n", "[directory]\n\"dave@example.org\" = \"dave@example.org\"\n", 1)
		s = strings.Replace(s, "[policy]\n", "[policy]\nno_such_key = 1\n", 1)
		return strings.Replace(s, `encryption = "required"`, `encryption = "sometimes"`, 1)
	}
	env.gw.hup(t, broken, "reload refused")
	// One line per problem, one write each: hup returns at the first, so
	// wait for the second before reading the log.
	for deadline := time.Now().Add(10 * time.Second); env.gw.logCount("reload refused") < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"policy.no_such_key: unknown key", "sometimes"} {
		if !env.gw.logContains(want) {
			t.Errorf("the refusal does not log %q", want)
		}
	}
	if n := env.gw.logCount("reload refused"); n < 2 {
		t.Errorf("%d refusal lines, want one per problem", n)
	}
	if out := swaks(t, env.gw.cfg.MXAddr, "dave@example.org", false); !strings.Contains(out, "5.1.1") {
		t.Errorf("dave, only in the refused file, was accepted:\n%s", out)
	}
	swaks(t, env.gw.cfg.MXAddr, "carol@example.org", true, "--body", "still running")
	carol.next(t, 30*time.Second)
}
