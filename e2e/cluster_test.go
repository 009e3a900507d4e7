package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"passerelle/internal/natstest"
	"passerelle/internal/prosodytest"
)

// TestSharedQueueCluster is `make test-cluster`: three nats-server nodes
// (JetStream, R3) and two Passerelle nodes sharing one queue, each with its
// own component domain on one Prosody (which takes one connection per
// component). smtp-source load goes to both nodes; one Passerelle node is
// killed with SIGKILL several times and one NATS node once during the
// load. Afterwards every message that got 250 has reached alice's XMPP
// client (counted by origin-id: a copy of one already seen is a
// duplicate, recognisable, allowed), none is lost, and each mail to a
// recipient that does not exist produced exactly one DSN at the sender's
// sink.
func TestSharedQueueCluster(t *testing.T) {
	kills, perRun, workers := 3, 120, 2
	nats := natstest.StartCluster(t, 3)
	secret2 := "second-node-secret"
	srv := prosodytest.Start(t, prosodytest.Options{Component: "mail1.example.org",
		Users:       map[string]string{"alice": "alice-pw"},
		ExtraConfig: fmt.Sprintf("Component %q\n  component_secret = %q\n", "mail2.example.org", secret2)})
	sink := startSink(t)
	spool := func(node string) string {
		return fmt.Sprintf("backend = \"jetstream\"\n[spool.jetstream]\nurls = [%s]\nreplicas = 3\nnode = %q\nack_wait = \"5s\"\nmax_defer = \"1m\"\n",
			quoteList(nats.URLList()), node)
	}
	extra := fmt.Sprintf("[delivery.smarthost]\naddr = %q\ntls = \"none\"\n", sink.addr)
	g1 := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: "mail1.example.org",
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, Encryption: "none", SpoolExtra: spool("p1"), Extra: extra})
	g2 := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: "mail2.example.org",
		ComponentSecret: secret2, Domain: srv.Domain, Encryption: "none", SpoolExtra: spool("p2"), Extra: extra})
	alice := newInbox(ctxT(t, 10*time.Minute), t, srv, "alice", "alice-pw")

	// alice's client, counting by subject (which smtp-source run) and
	// origin-id (which message).
	var mu sync.Mutex
	seen := map[string]int{}                  // origin-id -> copies
	bySubject := map[string]map[string]bool{} // subject -> origin-ids
	stop := make(chan struct{})
	var rx sync.WaitGroup
	rx.Add(1)
	go func() {
		defer rx.Done()
		for {
			select {
			case m := <-alice.msgs:
				if m.OriginID == nil {
					continue
				}
				mu.Lock()
				seen[m.OriginID.ID]++
				if bySubject[m.Subject] == nil {
					bySubject[m.Subject] = map[string]bool{}
				}
				bySubject[m.Subject][m.OriginID.ID] = true
				mu.Unlock()
			case <-stop:
				return
			}
		}
	}()

	accepted := map[string]int{} // subject -> 250s
	refused := map[string]int{}
	var bounceMarkers []string
	var amu sync.Mutex
	run := func(g *gateway, subject string) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// No -N: every message to alice, told apart by origin-id.
				s := startSMTPSourceArgs(t, "-v", "-d", "-s", "1", "-m", itoa(perRun), "-l", "512",
					"-S", fmt.Sprintf("%s-w%d", subject, w), "-f", "sender@remote.example", "-t", "alice@example.org", g.cfg.MXAddr)
				s.wait()
				a, r := s.result()
				amu.Lock()
				accepted[fmt.Sprintf("%s-w%d", subject, w)] += len(a)
				for k, v := range r {
					refused[k] += v
				}
				amu.Unlock()
			}()
		}
		// Mail to a recipient that does not exist: a DSN each.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				marker := fmt.Sprintf("bounce-%s-%d", subject, i)
				if err := sendSMTP(g.cfg.MXAddr, "bob@remote.example", "nobody@example.org",
					"From: bob@remote.example\r\nTo: nobody@example.org\r\nSubject: peer "+marker+"\r\n\r\nbody\r\n"); err == nil {
					amu.Lock()
					bounceMarkers = append(bounceMarkers, marker)
					amu.Unlock()
				}
			}
		}()
		return &wg
	}
	natsKilled := false
	for round := 0; round <= kills; round++ {
		w1 := run(g1, fmt.Sprintf("p1-r%d", round))
		w2 := run(g2, fmt.Sprintf("p2-r%d", round))
		if round < kills {
			time.Sleep(time.Duration(500+rand.IntN(1000)) * time.Millisecond)
			g2.stop(syscall.SIGKILL) // mid-delivery: its claims lapse after ack_wait
			if round == 1 && !natsKilled {
				nats.Servers[1].Kill()
				natsKilled = true
			}
			w2.Wait()
			g2.start()
		}
		w1.Wait()
		w2.Wait()
	}
	if err := nats.Servers[1].Start(); err != nil {
		t.Fatalf("restart the NATS node: %v", err)
	}

	total := 0
	for _, n := range accepted {
		total += n
	}
	deadline := time.Now().Add(4 * time.Minute)
	count := func() (delivered, lost int) {
		mu.Lock()
		defer mu.Unlock()
		for subj, n := range accepted {
			got := len(bySubject[subj])
			delivered += min(got, n)
			lost += max(n-got, 0)
		}
		return delivered, lost
	}
	for {
		_, lost := count()
		_, dsnLost, _ := sink.tally("bounce", bounceMarkers)
		if lost == 0 && dsnLost == 0 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second) // late duplicates (a lapsed claim) show up here
	close(stop)
	rx.Wait()
	delivered, lost := count()
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	dsnSeen, dsnLost, dsnDups := sink.tally("bounce", bounceMarkers)
	t.Logf("shared queue: 3 NATS nodes (R3, one killed once), 2 Passerelle nodes (one SIGKILLed %d times): accepted (250) %d, delivered %d, duplicates %d (same origin-id), lost %d; DSNs: %d owed, %d received, %d duplicated, %d lost; non-250 replies after DATA by class: %v",
		kills, total, delivered, dups, lost, len(bounceMarkers), len(dsnSeen), dsnDups, dsnLost, refused)
	if lost != 0 {
		t.Errorf("%d messages got 250 and never reached alice", lost)
	}
	if dsnLost != 0 || dsnDups != 0 {
		t.Errorf("DSNs: %d lost, %d sent more than once; want each exactly once", dsnLost, dsnDups)
	}
	if total < 500 {
		t.Errorf("only %d messages accepted: the load was too light to mean anything", total)
	}
	for _, g := range []*gateway{g1, g2} {
		if !g.logContains(`"shared spool on NATS JetStream"`) {
			t.Errorf("gateway %s did not run on the shared spool", g.cfg.ComponentDomain)
		}
	}
	// What got no 250 the client saw (a node killed between storing and
	// replying) is delivered too: the queue empties.
	var out []byte
	var err error
	listStart := time.Now()
	defer func() {
		t.Logf("queue list showed the shared queue empty after %v", time.Since(listStart).Round(time.Second))
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		out, err = exec.Command(binary, "queue", "list", "-c", g1.path).CombinedOutput()
		if (err == nil && strings.Contains(string(out), "\n0 message(s)")) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !strings.Contains(string(out), "\n0 message(s)") {
		t.Errorf("passerelle queue list on the shared queue: %v; want it empty:\n%.800s", err, out)
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && len(f[0]) == 26 {
				for _, g := range []*gateway{g1, g2} {
					b, _ := os.ReadFile(filepath.Join(g.cfg.Dir, "passerelle.log"))
					for _, l := range strings.Split(string(b), "\n") {
						if strings.Contains(l, f[0]) && !strings.Contains(l, "xmpp.trace") {
							t.Logf("%s: %.300s", g.cfg.ComponentDomain, l)
						}
					}
				}
			}
		}
	}
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
