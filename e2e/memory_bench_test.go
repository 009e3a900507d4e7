package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"passerelle/internal/prosodytest"
)

// The memory rows of issue 11, measured on the running gateway process:
// peak resident set growth while one 25 MB mail crosses the forward path
// and the reverse path, and the resident set of 10,000 idle SMTP
// connections. They are absolute (bytes of the gateway's own RSS), not
// ratios: memory is far less sensitive than speed to the other work on a
// shared machine. They need PASSERELLE_BENCH=1 (make bench runs them).

// rssGoal25MB is the goal for the peak RSS growth of a 25 MB mail.
const rssGoal25MB = 64 << 20

func needBench(t *testing.T) {
	t.Helper()
	if os.Getenv("PASSERELLE_BENCH") != "1" {
		t.Skip("set PASSERELLE_BENCH=1 (make bench)")
	}
	if raceEnabled {
		t.Skip("memory is measured without the race detector")
	}
	// PASSERELLE_BENCH_MEMPROFILE=FILE: the gateway writes its heap
	// profile there at shutdown (PASSERELLE_MEMPROFILE).
	if f := os.Getenv("PASSERELLE_BENCH_MEMPROFILE"); f != "" {
		t.Setenv("PASSERELLE_MEMPROFILE", f)
	}
}

// peakWatch measures a process's peak resident set growth over a span:
// it resets the kernel's high-water mark (clear_refs 5, Linux 4.0+) and
// reads VmHWM at the end, minus VmRSS at the start.
type peakWatch struct {
	pid    int
	before int64
}

func watchPeak(t *testing.T, pid int) *peakWatch {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak RSS of %d: %v", pid, err)
	}
	return &peakWatch{pid: pid, before: procStatus(pid, "VmRSS:")}
}

// growth is VmHWM now minus VmRSS at the start.
func (w *peakWatch) growth() (growth, before, peak int64) {
	peak = procStatus(w.pid, "VmHWM:")
	return peak - w.before, w.before, peak
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestMemoryLargeForward: one 25 MB mail (an 18 MiB attachment, base64)
// from swaks through the gateway to alice over OX, the body by HTTP upload;
// it reports the gateway's peak RSS growth from before the SMTP connection
// until alice has the message.
func TestMemoryLargeForward(t *testing.T) {
	needBench(t)
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"alice": "alice-pw"},
		HTTPFileShare: true, UploadSizeLimit: 64 << 20})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, Top: benchTop(),
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent)})
	env := &forwardEnv{srv: fromProsody(srv), gw: gw, alice: newInbox(ctxT(t, 5*time.Minute), t, srv, "alice", "alice-pw")}
	env.aliceKey = newUserKey(t, "alice@"+srv.Domain)
	importKey(t, gw, env.aliceKey)

	dir := t.TempDir()
	send := func(name string, attach int) {
		blob := make([]byte, attach)
		rand.Read(blob)
		marker := fmt.Sprintf("mem-%s-%x", name, time.Now().UnixNano())
		file := filepath.Join(dir, name+".eml")
		if err := os.WriteFile(file, []byte(mimeWithAttachment(marker, blob)), 0o600); err != nil {
			t.Fatal(err)
		}
		swaks(t, gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+file)
		m := env.alice.next(t, 3*time.Minute)
		p := openOX(t, m, env.aliceKey, env.puppetKeyViaPEP(t, `bob\40remote.example@`+srv.Component))
		if p.Subject != marker {
			t.Fatalf("want %s, got %q", marker, p.Subject)
		}
	}
	// Warm up every code path (upload slot, TLS-free HTTP client, keys)
	// with a 1 MiB mail, which also goes by upload.
	send("warm", 1<<20)
	time.Sleep(time.Second)
	w := watchPeak(t, gw.cmd.Process.Pid)
	send("25MB", 18<<20)
	growth, before, peak := w.growth()
	verdict := "met"
	if growth > rssGoal25MB {
		verdict = "NOT met"
	}
	t.Logf("| forward, one 25 MB mail (OX, HTTP upload) | RSS before %.1f MiB | peak %.1f MiB | growth %.1f MiB | goal <= %d MiB: %s |",
		mib(before), mib(peak), mib(growth), rssGoal25MB>>20, verdict)
}

// benchTop is extra top-level TOML for the memory runs
// (PASSERELLE_BENCH_TOP), e.g. to try a setting.
func benchTop() string { return os.Getenv("PASSERELLE_BENCH_TOP") }
