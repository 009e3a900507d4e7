package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// TestCrashLosesNothing runs Postfix's smtp-source against passerelle while
// the process is killed with SIGKILL several times and restarted. Every
// message that received 250 must be in the spool afterwards. Delivery cannot
// happen (no XMPP server listens), so everything accepted stays queued.
func TestCrashLosesNothing(t *testing.T) {
	kills, workers, perRun := 4, 4, 400       // perRun: messages per smtp-source run
	if os.Getenv("PASSERELLE_STRESS") != "" { // make stress: a longer soak
		kills, workers, perRun = 25, 8, 2000
	}
	g := startGateway(t, gwConfig{Encryption: "none"})
	var accepted []string
	refused := map[string]int{}
	collect := func(srcs []*smtpSource) {
		for _, s := range srcs {
			s.wait()
			a, r := s.result()
			accepted = append(accepted, a...)
			for k, v := range r {
				refused[k] += v
			}
		}
	}
	for round := 0; round <= kills; round++ {
		var srcs []*smtpSource
		for w := 0; w < workers; w++ {
			to := fmt.Sprintf("r%dw%d@example.org", round, w)
			srcs = append(srcs, startSMTPSource(t, g.cfg.MXAddr, to, perRun, 512))
		}
		if round < kills {
			time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
			g.stop(syscall.SIGKILL)
			collect(srcs)
			g.start()
			continue
		}
		collect(srcs)
	}
	g.stop(syscall.SIGTERM)

	st, damaged, err := queue.Open(context.Background(), filepath.Join(g.cfg.Dir, "spool"), zap.NewNop())
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	defer st.Close()
	if len(damaged) > 0 {
		t.Errorf("spool has %d damaged entries after the crashes: %v", len(damaged), damaged)
	}
	envs, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inSpool := map[string]bool{}
	for _, e := range envs {
		for _, r := range e.Recipients {
			inSpool[r.Addr] = true
		}
	}
	lost := 0
	for _, a := range accepted {
		if !inSpool[a] {
			lost++
			if lost <= 10 {
				t.Errorf("message to %s got 250 but is not in the spool", a)
			}
		}
	}
	t.Logf("crash test: %d SIGKILLs, accepted (250) %d, recovered %d, lost %d; in spool %d messages; non-250 replies after DATA by class: %v",
		kills, len(accepted), len(accepted)-lost, lost, len(envs), refused)
	out, err := exec.Command(binary, "queue", "list", "-c", g.path).CombinedOutput()
	if want := fmt.Sprintf("%d message(s)", len(envs)); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("passerelle queue list: %v; want %q in its summary:\n%.500s", err, want, out[max(0, len(out)-500):])
	}
	if len(accepted) < 1000 {
		t.Errorf("only %d messages accepted: the test did not load the gateway enough to mean anything", len(accepted))
	}
}
