package e2e

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"

	"passerelle/bridge/pep"
	"passerelle/gateway/queue"
	"passerelle/internal/prosodytest"
)

// BenchmarkVsPostfix measures passerelle's forward path and a stock Postfix
// 3.7 relay side by side in one run, on the same load: `smtp-source -s 20
// -m N -l SIZE` (one SMTP connection per message, 20 in parallel), rounds
// alternating which system goes first. Passerelle encrypts to alice's
// published key and hands each message to Prosody (acknowledged); Postfix
// relays to smtp-sink. Time runs from the first connection until the
// gateway's spool, or Postfix's queue, is empty. After each timed pass, 20
// Go SMTP clients send a few hundred more messages to measure the time from
// DATA to 250 (not counted in the rates or CPU).
//
// CPU per message counts the system itself: the passerelle process; for
// Postfix, master(8) and every process below it (smtpd, cleanup, qmgr,
// smtp, trivial-rewrite, postlogd...), including the children that exited
// during the pass (their time is reaped into master's cutime/cstime). The
// next hop (Prosody, smtp-sink) is shown apart: each system hands over to
// it, and neither is its own work. The load generators are not counted.
//
// It needs PASSERELLE_BENCH=1 (make bench). Tunables:
// PASSERELLE_BENCH_N (messages per pass, default 2000),
// PASSERELLE_BENCH_ROUNDS (default 3), PASSERELLE_BENCH_SIZE (bytes,
// default 4096), PASSERELLE_BENCH_LATENCY_N (default 400), and
// PASSERELLE_BENCH_CPUPROFILE=FILE (a CPU profile of the gateway over the
// whole run, written when it stops).
func BenchmarkVsPostfix(b *testing.B) {
	if os.Getenv("PASSERELLE_BENCH") != "1" {
		b.Skip("passerelle vs Postfix benchmark: set PASSERELLE_BENCH=1 (make bench) to run it")
	}
	if _, err := exec.LookPath("smtp-source"); err != nil {
		b.Skip("smtp-source (Postfix) is not installed: run `make deps`")
	}
	cfg := vsConfig{N: envInt(b, "PASSERELLE_BENCH_N", 2000), Rounds: envInt(b, "PASSERELLE_BENCH_ROUNDS", 3),
		Size: envInt(b, "PASSERELLE_BENCH_SIZE", 4096), LatencyN: envInt(b, "PASSERELLE_BENCH_LATENCY_N", 400)}
	pf := startPostfixRelay(b)
	srv := prosodytest.Start(b, prosodytest.Options{Users: map[string]string{"alice": "alice-pw"}, GlobalConfig: os.Getenv("PASSERELLE_BENCH_PROSODY") + "\n",
		ExtraConfig: fmt.Sprintf("Component %q\n  component_secret = %q\n", sharedComponent, sharedSecret)})
	drain := newDrainClient(b, srv)
	if prof := os.Getenv("PASSERELLE_BENCH_CPUPROFILE"); prof != "" {
		b.Setenv("PASSERELLE_CPUPROFILE", prof)
	}
	g := startLoadGateway(b, srv)
	systems := []vsSystem{&vsPasserelle{g: g, srv: srv, drain: drain}, &vsPostfix{p: pf}, startSharedSystem(b, srv, drain)}
	for _, s := range systems {
		if err := vsWarmUp(s); err != nil {
			b.Fatalf("%s warm-up: %v", s.name(), err)
		}
	}
	var results []vsResult
	for r := 1; r <= cfg.Rounds; r++ {
		order := slices.Clone(systems)
		if r%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			res := vsRound(s, cfg, r)
			if res.err != nil {
				b.Errorf("round %d %s: %v", r, s.name(), res.err)
			}
			results = append(results, res)
		}
	}
	hwm := procStatus(g.cmd.Process.Pid, "VmHWM:")
	g.stop(syscall.SIGTERM) // writes the CPU profile, if asked
	arrived := drain.n.Load()
	printVsTable(cfg, results, hwm, arrived)
	if want := int64(cfg.Rounds*(cfg.N+cfg.LatencyN) + 40); arrived < want {
		b.Errorf("alice's client received %d messages, want at least %d", arrived, want)
	}
}

type vsConfig struct{ N, Rounds, Size, LatencyN int }

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// vsSystem is one of the two systems under test.
type vsSystem interface {
	name() string
	addr() string
	queued() (int, error)
	pids() []int      // the system's processes, for CPU and RSS
	peerCPU() float64 // the next hop's CPU seconds
}

type vsPasserelle struct {
	g     *gateway
	srv   *prosodytest.Server
	spool *queue.Counter
	drain *drainClient
}

func (p *vsPasserelle) name() string              { return "passerelle" }
func (p *vsPasserelle) passerelle() *vsPasserelle { return p }
func (p *vsPasserelle) addr() string              { return p.g.cfg.MXAddr }
func (p *vsPasserelle) queued() (int, error) {
	if p.spool == nil {
		p.spool = queue.NewCounter(p.g.cfg.Dir + "/spool")
	}
	return p.spool.Count()
}
func (p *vsPasserelle) pids() []int      { return []int{p.g.cmd.Process.Pid} }
func (p *vsPasserelle) peerCPU() float64 { return procCPU(p.srv.Pid()) }

type vsPostfix struct{ p *postfixRelay }

func (p *vsPostfix) name() string         { return "Postfix 3.7" }
func (p *vsPostfix) addr() string         { return p.p.Addr }
func (p *vsPostfix) queued() (int, error) { return p.p.queued(), nil }
func (p *vsPostfix) pids() []int          { return p.p.processes() }
func (p *vsPostfix) peerCPU() float64     { return procCPU(p.p.Sink.cmd.Process.Pid) }

type vsResult struct {
	system        string
	round         int
	accepted      time.Duration // first connection -> smtp-source done
	drained       time.Duration // first connection -> queue empty
	cpu, peerCPU  float64       // seconds over the timed pass
	peakRSS       int64         // sampled during the timed pass
	lat           []time.Duration
	smtpSourceErr string
	err           error
	// firstRate and lastRate are the delivery rates of the first and last
	// thousand messages of the pass (a quarter of it if shorter), at
	// alice's client: does throughput fall as a run goes on?
	firstRate, lastRate float64
}

// trend returns the arrival rate of the first and of the last k of the
// first n arrivals, k = min(1000, n/4).
func trend(at []time.Time, n int) (first, last float64) {
	at = at[:min(n, len(at))]
	k := min(1000, len(at)/4)
	if k < 2 {
		return 0, 0
	}
	rate := func(a []time.Time) float64 {
		if d := a[len(a)-1].Sub(a[0]).Seconds(); d > 0 {
			return float64(len(a)-1) / d
		}
		return 0
	}
	return rate(at[:k]), rate(at[len(at)-k:])
}

// vsWarmUp makes the puppet keys and caches of the smtp-source sender and
// of the Go clients' sender before anything is measured.
func vsWarmUp(s vsSystem) error {
	if _, err := runSMTPSource(s.addr(), 20, 4096); err != nil {
		return err
	}
	if _, err := vsLatency(s.addr(), 20, 4096); err != nil {
		return err
	}
	return waitDrained(s, 2*time.Minute)
}

func vsRound(s vsSystem, cfg vsConfig, round int) vsResult {
	res := vsResult{system: s.name(), round: round}
	var p *vsPasserelle
	if d, ok := s.(interface{ passerelle() *vsPasserelle }); ok {
		p = d.passerelle()
	}
	arrived0 := 0
	if p != nil {
		arrived0 = p.drain.count()
	}
	cpu0, peer0 := treeCPU(s.pids()), s.peerCPU()
	stopSampling := sampleRSS(s, &res.peakRSS)
	start := time.Now()
	stderr, err := runSMTPSource(s.addr(), cfg.N, cfg.Size)
	res.accepted = time.Since(start)
	res.smtpSourceErr = stderr
	if err == nil {
		err = waitDrained(s, 5*time.Minute)
	}
	res.drained = time.Since(start)
	stopSampling()
	res.cpu, res.peerCPU = treeCPU(s.pids())-cpu0, s.peerCPU()-peer0
	if p != nil {
		res.firstRate, res.lastRate = trend(p.drain.since(arrived0), cfg.N)
	}
	if err != nil {
		res.err = err
		return res
	}
	res.lat, res.err = vsLatency(s.addr(), cfg.LatencyN, cfg.Size)
	if err := waitDrained(s, 5*time.Minute); err != nil && res.err == nil {
		res.err = err
	}
	return res
}

// sampleRSS records the peak of the system's summed PSS every 10 ms
// until the returned function is called.
func sampleRSS(s vsSystem, peak *int64) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			*peak = max(*peak, treePSS(s.pids()))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// runSMTPSource runs smtp-source -s 20 against addr and returns what it
// wrote to stderr (it reports refused messages there).
func runSMTPSource(addr string, n, size int) (string, error) {
	cmd := exec.Command("smtp-source", "-s", "20", "-m", strconv.Itoa(n), "-l", strconv.Itoa(size),
		"-f", "bench@remote.example", "-t", "alice@example.org", addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("smtp-source: %w: %s", err, firstLine(stderr.String()))
	}
	return stderr.String(), err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// waitDrained polls the system's queue until it is empty.
func waitDrained(s vsSystem, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := s.queued()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d messages still queued after %v", n, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// vsLatency sends n messages of size bytes over 20 concurrent Go SMTP
// connections and returns, per message, the time from the DATA command
// to the 250 after the final dot.
func vsLatency(addr string, n, size int) ([]time.Duration, error) {
	const clients = 20
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	msg := latencyMessage(size)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := latencyClient(addr, msg, (n+clients-1-c)/clients)
			mu.Lock()
			lat, errs = append(lat, l...), append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, errors.Join(errs...)
}

func latencyClient(addr string, msg []byte, n int) ([]time.Duration, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = time.Minute, 2*time.Minute
	if err := c.Hello("latency.remote.example"); err != nil {
		return nil, err
	}
	var out []time.Duration
	for range n {
		if err := c.Mail("latency@remote.example", nil); err != nil {
			return out, err
		}
		if err := c.Rcpt("alice@example.org", nil); err != nil {
			return out, err
		}
		t := time.Now()
		w, err := c.Data()
		if err != nil {
			return out, err
		}
		w.Write(msg)
		if err := w.Close(); err != nil {
			return out, err
		}
		out = append(out, time.Since(t))
	}
	return out, c.Quit()
}

func latencyMessage(size int) []byte {
	var m bytes.Buffer
	m.WriteString("From: <latency@remote.example>\r\nTo: <alice@example.org>\r\nSubject: latency\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n")
	line := strings.Repeat("0123456789", 7) + "\r\n"
	for m.Len() < size-len(line) {
		m.WriteString(line)
	}
	return m.Bytes()
}

// drainClient is alice's XMPP client: it publishes her key (so the
// gateway resolves it at RCPT) and counts what arrives, without
// decrypting, so it takes as little CPU from the systems as smtp-sink does.
type drainClient struct {
	n  atomic.Int64
	mu sync.Mutex
	at []time.Time // arrival of each message
}

// since returns the arrival times from index i on.
func (d *drainClient) since(i int) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.at[min(i, len(d.at)):])
}

func (d *drainClient) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.at)
}

func newDrainClient(b *testing.B, srv *prosodytest.Server) *drainClient {
	ctx := ctxT(b, time.Minute)
	sess := srv.Client(ctx, b, "alice", "alice-pw")
	d := &drainClient{}
	go sess.Serve(xmpp.HandlerFunc(func(_ xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local == "message" {
			d.n.Add(1)
			d.mu.Lock()
			d.at = append(d.at, time.Now())
			d.mu.Unlock()
		}
		return nil
	}))
	key := newUserKey(b, "xmpp:alice@"+srv.Domain)
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: sess}, key, "open"); err != nil {
		b.Fatalf("alice publishes her key: %v", err)
	}
	return d
}

// vsSummary is the median of one system's rounds.
type vsSummary struct {
	accept, drain, cpuPerMsg float64 // msg/s, msg/s, ms
	p50, p99                 time.Duration
	peakRSS                  int64
}

func summarize(cfg vsConfig, rs []vsResult, system string) vsSummary {
	var acc, drn, cpu []float64
	var lat []time.Duration
	var s vsSummary
	for _, r := range rs {
		if r.system != system {
			continue
		}
		acc = append(acc, float64(cfg.N)/r.accepted.Seconds())
		drn = append(drn, float64(cfg.N)/r.drained.Seconds())
		cpu = append(cpu, r.cpu*1000/float64(cfg.N))
		lat = append(lat, r.lat...)
		s.peakRSS = max(s.peakRSS, r.peakRSS)
	}
	s.accept, s.drain, s.cpuPerMsg = median(acc), median(drn), median(cpu)
	s.p50, s.p99 = percentile(lat, 50), percentile(lat, 99)
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printVsTable(cfg vsConfig, rs []vsResult, hwm, arrived int64) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### passerelle vs Postfix 3.7, same run: smtp-source -s 20 -m %d -l %d, %d rounds alternating\n\n",
		cfg.N, cfg.Size, cfg.Rounds)
	fmt.Fprintf(&b, "%s; %d CPUs shared by both systems, their next hops and the load generators. "+
		"passerelle: MX -> encrypt to alice's published key -> Prosody component (acknowledged); "+
		"Postfix: smtpd -> queue -> smtp -> smtp-sink. Time: first connection -> spool / queue empty. "+
		"CPU: the system's own processes (passerelle; Postfix master and all its children), next hop apart. "+
		"peak PSS: sampled every 10 ms, shared pages divided among processes. p50/p99: DATA -> 250, %d messages from 20 Go clients after each pass.\n\n", loadBuild(), runtime.NumCPU(), cfg.LatencyN)
	b.WriteString("| round | system | accept msg/s | end-to-end msg/s | CPU ms/msg | next hop CPU ms/msg | p50 to 250 | p99 to 250 | peak PSS | notes |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		note := ""
		if r.err != nil {
			note = r.err.Error()
		} else if r.smtpSourceErr != "" {
			note = "smtp-source: " + firstLine(r.smtpSourceErr)
		}
		if r.firstRate > 0 {
			note += fmt.Sprintf(" delivered: first %d at %.0f/s, last at %.0f/s", min(1000, cfg.N/4), r.firstRate, r.lastRate)
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f | %.2f | %.2f | %s | %s | %.1f MiB | %s |\n", r.round, r.system,
			float64(cfg.N)/r.accepted.Seconds(), float64(cfg.N)/r.drained.Seconds(), r.cpu*1000/float64(cfg.N),
			r.peerCPU*1000/float64(cfg.N), vsMS(percentile(r.lat, 50)), vsMS(percentile(r.lat, 99)),
			float64(r.peakRSS)/(1<<20), note)
	}
	pa, pf, ps := summarize(cfg, rs, "passerelle"), summarize(cfg, rs, "Postfix 3.7"), summarize(cfg, rs, sharedName)
	b.WriteString("\n| median of rounds | accept msg/s | end-to-end msg/s | CPU ms/msg | p50 to 250 | p99 to 250 | peak PSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		s    vsSummary
	}{{"passerelle", pa}, {"Postfix 3.7", pf}, {sharedName, ps}} {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | %s | %s | %.1f MiB |\n", row.name, row.s.accept, row.s.drain,
			row.s.cpuPerMsg, vsMS(row.s.p50), vsMS(row.s.p99), float64(row.s.peakRSS)/(1<<20))
	}
	fmt.Fprintf(&b, "| **ratio passerelle / Postfix** | **%.2f×** | **%.2f×** | %.2f× | | | |\n\n",
		ratio(pa.accept, pf.accept), ratio(pa.drain, pf.drain), ratio(pa.cpuPerMsg, pf.cpuPerMsg))
	fmt.Fprintf(&b, "| **ratio %s / Postfix** | **%.2f×** | **%.2f×** | %.2f× | | | |\n\n",
		sharedName, ratio(ps.accept, pf.accept), ratio(ps.drain, pf.drain), ratio(ps.cpuPerMsg, pf.cpuPerMsg))
	fmt.Fprintf(&b, "passerelle VmHWM over the whole run: %.1f MiB; alice's client received %d messages.\n\n",
		float64(hwm)/(1<<20), arrived)
	fmt.Print(b.String())
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func vsMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
