package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-smtp"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
	"passerelle/internal/prosodytest"
)

// BenchmarkForwardLoad drives the whole forward path under load: Go SMTP
// clients -> the passerelle binary -> Prosody -> alice's XMPP client, which
// decrypts and verifies every message. It runs once (whatever b.N is: one
// pass takes minutes) and prints a markdown table. It needs
// PASSERELLE_BENCH=1 (`make bench`), so `make test` never runs it.
//
// Throughput is messages / (first SMTP connect -> last decrypted arrival).
// Latency is DATA command sent -> message decrypted at alice's client; the
// sequence number and DATA timestamp travel in the encrypted Subject.
func BenchmarkForwardLoad(b *testing.B) {
	if os.Getenv("PASSERELLE_BENCH") != "1" {
		b.Skip("forward-path load benchmark: set PASSERELLE_BENCH=1 (make bench) to run it")
	}
	// Prosody's archive (mod_mam) stalls past 10,000 messages per user:
	// prosodytest leaves mam off unless asked (docs: /work/shared/PEERS.md).
	// PASSERELLE_BENCH_PROSODY adds global Prosody settings, e.g.
	// "network_settings = { min_wait = 0.00001 }" to see how much of the
	// large-message cost is Prosody's 8 KiB-per-turn reads.
	srv := prosodytest.Start(b, prosodytest.Options{Users: map[string]string{"alice": "alice-pw"},
		GlobalConfig: os.Getenv("PASSERELLE_BENCH_PROSODY") + "\n"})
	rx := newLoadReceiver(b, srv)
	scenarios := []loadScenario{
		{Size: 4 << 10, Clients: 1, N: 500},
		{Size: 4 << 10, Clients: 20, N: 500},
		{Size: 100 << 10, Clients: 1, N: 200},
		{Size: 100 << 10, Clients: 20, N: 200},
	}
	var results []loadResult
	for i, sc := range scenarios {
		sc.Run = i + 1
		r := runLoadScenario(b, srv, rx, sc)
		results = append(results, r)
		b.ReportMetric(r.rate(), fmt.Sprintf("msgs/s-%s-c%d", sizeName(sc.Size), sc.Clients))
	}
	printLoadTable(results, loadBuild())
}

func loadBuild() string {
	if raceEnabled {
		return "gateway built WITH -race (numbers not representative)"
	}
	return "gateway built without -race"
}

// loadScenario is one row of the table.
type loadScenario struct {
	Run     int // distinguishes this run's messages from earlier ones
	Size    int // bytes per message, headers included
	Clients int // concurrent SMTP connections
	N       int // measured messages
}

type loadResult struct {
	loadScenario
	Accepted, Delivered, DupOrigin, Failed int
	Elapsed                                time.Duration // first connect -> last decrypted
	P50, P99, Max                          time.Duration
	PeakRSS                                int64   // passerelle VmHWM, bytes
	CPU                                    float64 // passerelle user+system seconds, warm-up included
	ProsodyCPU, SelfCPU                    float64 // Prosody's and this process's (senders, receiver), measured run only
	Err                                    string  // what went wrong, if anything
}

func (r loadResult) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

const loadTimeout = 5 * time.Minute // per scenario; the run ends even if mail is lost

// runLoadScenario starts a fresh gateway, warms it up with one message per
// sender (puppet keys made and fetched, alice's key resolved), then sends
// sc.N measured messages and waits for them at alice's client.
func runLoadScenario(b *testing.B, srv *prosodytest.Server, rx *loadReceiver, sc loadScenario) loadResult {
	g := startLoadGateway(b, srv)
	defer g.stop(syscall.SIGTERM)
	res := loadResult{loadScenario: sc}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()

	if err := warmUp(ctx, g, rx, sc); err != nil {
		res.Err = "warm-up: " + err.Error()
		b.Errorf("scenario %s x%d: %v", sizeName(sc.Size), sc.Clients, err)
		g.dumpLog(20)
		return res
	}

	_, prosodyCPU0 := procStats(srv.Pid())
	selfCPU0 := selfCPU()
	start := time.Now()
	accepted, sendErr := sendLoad(ctx, g.cfg.MXAddr, sc)
	res.Accepted = accepted
	got := rx.collect(ctx, sc.Run, accepted)
	res.Delivered, res.DupOrigin, res.Failed = len(got.arrivals), got.dupOrigin, got.failed
	lat := make([]time.Duration, 0, len(got.arrivals))
	var last time.Time
	for _, a := range got.arrivals {
		lat = append(lat, a.decrypted.Sub(a.sent))
		if a.decrypted.After(last) {
			last = a.decrypted
		}
	}
	res.Elapsed = last.Sub(start)
	res.P50, res.P99, res.Max = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	res.PeakRSS, res.CPU = procStats(g.cmd.Process.Pid)
	_, prosodyCPU1 := procStats(srv.Pid())
	res.ProsodyCPU, res.SelfCPU = prosodyCPU1-prosodyCPU0, selfCPU()-selfCPU0
	errs := []error{sendErr}
	if res.Delivered < sc.N {
		errs = append(errs, fmt.Errorf("%d of %d messages arrived within %v", res.Delivered, sc.N, loadTimeout))
	}
	if got.firstErr != nil {
		errs = append(errs, fmt.Errorf("%d failed to decrypt or verify, first: %w", got.failed, got.firstErr))
	}
	if err := errors.Join(errs...); err != nil {
		res.Err = err.Error()
		b.Errorf("scenario %s x%d: %v", sizeName(sc.Size), sc.Clients, err)
	}
	return res
}

// warmUp sends one small message per sender of sc and waits for them, so
// the run measures a gateway whose puppet keys exist and whose cache holds
// alice's key, and a receiver that has fetched the puppet keys.
func warmUp(ctx context.Context, g *gateway, rx *loadReceiver, sc loadScenario) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	warm := loadScenario{Run: -sc.Run, Size: 1 << 10, Clients: sc.Clients, N: sc.Clients}
	if _, err := sendLoad(ctx, g.cfg.MXAddr, warm); err != nil {
		return err
	}
	got := rx.collect(ctx, warm.Run, warm.N)
	if len(got.arrivals) < warm.N {
		return fmt.Errorf("%d of %d arrived (%d failed: %v)", len(got.arrivals), warm.N, got.failed, got.firstErr)
	}
	return nil
}

const loadConfig = `hostname = "mx.{{.Domain}}"
local_domains = ["{{.Domain}}"]
[log]
level = "info"
format = "json"
[smtp]
greet_delay = "0s"
max_conns_per_ip = 100
[smtp.mx]
listen = "{{.MXAddr}}"
[spool]
dir = "spool"
retry_initial = "1s"
retry_max = "5s"
[xmpp]
component_addr = "{{.ComponentAddr}}"
component_domain = "{{.ComponentDomain}}"
component_secret = "{{.ComponentSecret}}"
[keys]
dir = "keys"
wkd = false
[inbound]
verify = false # no network here: DKIM/DMARC lookups would only wait for the timeout
[policy]
encryption = "required"
no_key = "reject"
`

// startLoadGateway runs passerelle with production defaults (info logging,
// 8 spool workers) except greet_delay, which would only add 1 s per
// connection, and inbound.verify, whose DNS lookups have no server here.
func startLoadGateway(b *testing.B, srv *prosodytest.Server) *gateway {
	return startLoadGatewayOn(b, srv, srv.Component, srv.ComponentSecret, "", "")
}

// startLoadGatewayOn is startLoadGateway on another component domain of
// srv, with spool lines added to [spool] and tail appended (the shared
// queue's bench row).
func startLoadGatewayOn(b *testing.B, srv *prosodytest.Server, component, secret, spool, tail string) *gateway {
	cfg := gwConfig{Dir: b.TempDir(), ComponentAddr: srv.ComponentAddr, ComponentDomain: component,
		ComponentSecret: secret, Domain: srv.Domain}
	cfg.defaults(b)
	g := &gateway{t: b, cfg: cfg, path: filepath.Join(cfg.Dir, "passerelle.toml")}
	var buf bytes.Buffer
	if err := template.Must(template.New("load").Parse(loadConfig)).Execute(&buf, cfg); err != nil {
		b.Fatal(err)
	}
	conf := buf.Bytes()
	if w := os.Getenv("PASSERELLE_BENCH_WORKERS"); w != "" { // spool.workers, to see what it changes
		conf = bytes.Replace(conf, []byte("[spool]\n"), []byte("[spool]\nworkers = "+w+"\n"), 1)
	}
	if spool != "" {
		conf = bytes.Replace(conf, []byte("[spool]\n"), []byte("[spool]\n"+spool), 1)
	}
	conf = append(conf, tail...)
	if err := os.WriteFile(g.path, conf, 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(binary, "keys", "init", "-c", g.path).CombinedOutput(); err != nil {
		b.Fatalf("passerelle keys init: %v\n%s", err, out)
	}
	b.Cleanup(func() { g.stop(syscall.SIGTERM) })
	g.start()
	// The component link comes up after the listener: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for !g.logContains("xmpp link up") {
		if time.Now().After(deadline) {
			g.dumpLog(40)
			b.Fatal("the gateway's component link did not come up within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g
}

// sendLoad sends sc.N messages to alice over sc.Clients connections, each
// client sending every Clients-th sequence number as sender
// load<run>-<client>@remote.example. It returns how many got a 250.
func sendLoad(ctx context.Context, addr string, sc loadScenario) (int, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		errs     []error
	)
	for c := 0; c < sc.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := sendLoadClient(ctx, addr, sc, c)
			mu.Lock()
			accepted += n
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return accepted, errors.Join(errs...)
}

func sendLoadClient(ctx context.Context, addr string, sc loadScenario, client int) (int, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = time.Minute, 2*time.Minute
	// Each scenario runs its own gateway, with its own domain and puppet
	// keys: its senders are new puppets, so no stale key is cached.
	from := fmt.Sprintf("load%d-%d@remote.example", abs(sc.Run), client)
	if err := c.Hello(fmt.Sprintf("load-%d.remote.example", client)); err != nil {
		return 0, err
	}
	filler := make([]byte, sc.Size)
	rand.Read(filler)
	sent := 0
	for seq := client; seq < sc.N; seq += sc.Clients {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		if err := c.Mail(from, nil); err != nil {
			return sent, fmt.Errorf("seq %d: %w", seq, err)
		}
		if err := c.Rcpt("alice@example.org", nil); err != nil {
			return sent, fmt.Errorf("seq %d: %w", seq, err)
		}
		t := time.Now()
		w, err := c.Data()
		if err != nil {
			return sent, fmt.Errorf("seq %d: %w", seq, err)
		}
		w.Write(loadMessage(from, sc, seq, t, filler))
		if err := w.Close(); err != nil {
			return sent, fmt.Errorf("seq %d: %w", seq, err)
		}
		sent++
	}
	return sent, c.Quit()
}

// loadMessage is an RFC 5322 message of about sc.Size bytes whose Subject
// carries the run, sequence number and DATA timestamp; the body is base64
// of random bytes, so compression does not shrink it.
func loadMessage(from string, sc loadScenario, seq int, t time.Time, filler []byte) []byte {
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: <%s>\r\nTo: <alice@example.org>\r\nSubject: load run=%d seq=%d t=%d\r\n"+
		"Message-ID: <load-%d-%d-%d@remote.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
		from, sc.Run, seq, t.UnixNano(), sc.Run, seq, t.UnixNano())
	body := base64.StdEncoding.EncodeToString(filler)
	for len(body) > 0 && m.Len() < sc.Size-80 {
		n := min(76, len(body), sc.Size-80-m.Len())
		m.WriteString(body[:n] + "\r\n")
		body = body[n:]
	}
	return m.Bytes()
}

// loadReceiver is alice's client: it decrypts and verifies every message
// with NumCPU workers, as soon as it arrives.
type loadReceiver struct {
	b       *testing.B
	key     *openpgp.Entity
	query   pep.ClientQuerier
	in      chan loadStanza
	out     chan loadArrival
	mu      sync.Mutex
	puppets map[string]*openpgp.Entity
}

type loadStanza struct {
	m  received
	at time.Time
}

// loadArrival is one decrypted message, or the error that stopped it.
type loadArrival struct {
	run, seq  int
	origin    string
	sent      time.Time // DATA command, from the Subject
	decrypted time.Time
	err       error
}

func newLoadReceiver(b *testing.B, srv *prosodytest.Server) *loadReceiver {
	ctx := ctxT(b, time.Minute)
	sess := srv.Client(ctx, b, "alice", "alice-pw")
	rx := &loadReceiver{b: b, key: newUserKey(b, "xmpp:alice@"+srv.Domain), query: pep.ClientQuerier{Session: sess},
		in: make(chan loadStanza, 8192), out: make(chan loadArrival, 8192), puppets: map[string]*openpgp.Entity{}}
	go sess.Serve(xmpp.HandlerFunc(rx.handle))
	if err := pep.PublishKey(ctx, rx.query, rx.key, "open"); err != nil {
		b.Fatalf("alice publishes her key: %v", err)
	}
	for range runtime.NumCPU() {
		go rx.work()
	}
	return rx
}

// handle runs on the Serve goroutine: decode and queue, never block on I/O.
func (rx *loadReceiver) handle(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	if start.Name.Local != "message" {
		return nil
	}
	var m received
	if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(&m); err != nil {
		return nil
	}
	if m.Type != "error" {
		rx.in <- loadStanza{m: m, at: time.Now()}
	}
	return nil
}

func (rx *loadReceiver) work() {
	for s := range rx.in {
		a := rx.open(s.m)
		a.decrypted = time.Now()
		rx.out <- a
	}
}

// open decrypts m with alice's key, verifies it against the sender's
// puppet key fetched over PEP, and reads the Subject.
func (rx *loadReceiver) open(m received) loadArrival {
	a := loadArrival{run: 0, seq: -1}
	if m.OriginID != nil {
		a.origin = m.OriginID.ID
	}
	if m.OpenPGP == nil {
		a.err = errors.New("no <openpgp/> element")
		return a
	}
	puppet, err := rx.puppet(m.From)
	if err != nil {
		a.err = err
		return a
	}
	ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
	if err != nil {
		a.err = err
		return a
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{rx.key}, Senders: openpgp.EntityList{puppet},
		Recipient: "alice@example.org"})
	if err != nil {
		a.err = err
		return a
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil {
		a.err = err
		return a
	}
	var ns int64
	if _, err := fmt.Sscanf(p.Subject, "load run=%d seq=%d t=%d", &a.run, &a.seq, &ns); err != nil {
		a.err = fmt.Errorf("subject %q: %w", p.Subject, err)
	}
	a.sent = time.Unix(0, ns)
	return a
}

func (rx *loadReceiver) puppet(from string) (*openpgp.Entity, error) {
	j, err := jid.Parse(from)
	if err != nil {
		return nil, err
	}
	j = j.Bare()
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if e := rx.puppets[j.String()]; e != nil {
		return e, nil
	}
	src := pep.NewSource(pep.SourceConfig{Client: rx.query, JIDOf: func(string) (jid.JID, error) { return j, nil }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := src.Lookup(ctx, j.String())
	if err != nil {
		return nil, fmt.Errorf("fetch puppet key %s: %w", j, err)
	}
	rx.puppets[j.String()] = e
	return e, nil
}

type loadCollected struct {
	arrivals          []loadArrival // one per distinct seq of the run
	dupOrigin, failed int
	firstErr          error
}

// collect waits for n distinct messages of run, or for ctx to end.
func (rx *loadReceiver) collect(ctx context.Context, run, n int) loadCollected {
	var got loadCollected
	seqs, origins := map[int]bool{}, map[string]bool{}
	for len(got.arrivals) < n {
		select {
		case a := <-rx.out:
			switch {
			case a.err != nil:
				got.failed++
				if got.firstErr == nil {
					got.firstErr = a.err
				}
			case a.run != run || seqs[a.seq]:
				// late arrival from an earlier run, or a redelivery
			default:
				seqs[a.seq] = true
				if origins[a.origin] {
					got.dupOrigin++
				}
				origins[a.origin] = true
				got.arrivals = append(got.arrivals, a)
			}
		case <-ctx.Done():
			return got
		}
	}
	return got
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// procStats reads the peak resident set size (VmHWM) and the CPU time of
// a running process from /proc.
func procStats(pid int) (rss int64, cpu float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the parenthesised command: utime and stime are
		// fields 14 and 15 of the whole line, in clock ticks (100/s).
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				cpu = (ut + st) / 100
			}
		}
	}
	return rss, cpu
}

// selfCPU is this process's user+system CPU time in seconds: the SMTP
// clients and alice's decrypting receiver.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func abs(n int) int { return max(n, -n) }

func sizeName(n int) string { return fmt.Sprintf("%dKiB", n>>10) }

func printLoadTable(rs []loadResult, build string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Forward path under load: SMTP -> passerelle -> Prosody -> alice's client (decrypted)\n\n")
	fmt.Fprintf(&b, "%s; Prosody 0.12 with mam OFF (its archive stalls past 10,000 messages per user); "+
		"%d CPUs shared by the SMTP clients, passerelle, Prosody and the decrypting receiver; "+
		"one warm-up message per sender before each run; latency = DATA sent -> decrypted at alice's client.\n\n",
		build, runtime.NumCPU())
	b.WriteString("CPU seconds: passerelle over its whole life (warm-up included); Prosody and the bench process " +
		"(SMTP clients + alice's decrypting receiver) over the measured run only.\n\n")
	b.WriteString("| size | SMTP clients | sent | arrived | msgs/s | p50 | p99 | max | passerelle peak RSS | CPU passerelle | CPU Prosody | CPU clients+receiver | notes |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		note := "every message decrypted and verified, distinct origin-ids"
		if r.DupOrigin > 0 || r.Failed > 0 || r.Err != "" {
			note = fmt.Sprintf("dup origin-ids %d, failed %d; %s", r.DupOrigin, r.Failed, r.Err)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %s | %s | %s | %.1f MiB | %.1f s | %.1f s | %.1f s | %s |\n",
			sizeName(r.Size), r.Clients, r.Accepted, r.Delivered, r.rate(), loadMS(r.P50), loadMS(r.P99), loadMS(r.Max),
			float64(r.PeakRSS)/(1<<20), r.CPU, r.ProsodyCPU, r.SelfCPU, note)
	}
	fmt.Print(b.String() + "\n")
}

func loadMS(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
