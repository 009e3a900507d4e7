package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
	"passerelle/bridge/upload"
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

// regressed fails a memory row that is over twice its goal: such a
// number is no noise but a copy of the mail (or a buffer per connection)
// that came back. Between the goal and twice it, the row says "NOT met".
func regressed(t *testing.T, got, goal int64) {
	t.Helper()
	if got > 2*goal {
		t.Errorf("%.1f MiB is over twice the goal of %d MiB", mib(got), goal>>20)
	}
}

// TestMemoryLargeForward: one 25 MB mail (an 18 MiB attachment, base64)
// from swaks through the gateway to alice over OX, the body by HTTP upload;
// it reports the gateway's peak RSS growth from before the SMTP connection
// until alice has the message.
func TestMemoryLargeForward(t *testing.T) {
	needBench(t)
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, Upload: true, UploadSizeLimit: 64 << 20})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, Top: benchTop(),
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent)})
	env := &forwardEnv{srv: srv, gw: gw, alice: newInbox(ctxT(t, 5*time.Minute), t, srv, "alice", "alice-pw")}
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
	regressed(t, growth, rssGoal25MB)
}

// benchTop is extra top-level TOML for the memory runs
// (PASSERELLE_BENCH_TOP), e.g. to try a setting.
func benchTop() string { return os.Getenv("PASSERELLE_BENCH_TOP") }

// TestMemoryLargeReverse: alice's client uploads a 25 MB mail (an 18 MiB
// attachment, base64) as an AES-256-GCM blob and sends bob's puppet the OX
// message pointing at it; it reports the gateway's peak RSS growth from
// before the message until smtp-sink has the whole mail (download,
// decryption, compose, DKIM signing, spool and SMTP delivery).
func TestMemoryLargeReverse(t *testing.T) {
	needBench(t)
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, Upload: true, UploadSizeLimit: 64 << 20})
	env := &reverseEnv{srv: srv, sink: startSink(t)}
	dir := t.TempDir()
	writeDKIMKey(t, filepath.Join(dir, "dkim.pem")) // the gateway signs what it sends, as in production
	env.gw = startGateway(t, gwConfig{Dir: dir, ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, Top: benchTop(),
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent),
		Extra:     "[egress]\nallow_networks = [\"127.0.0.1\"]\n" + fmt.Sprintf(reverseExtra, env.sink.addr)})
	ctx := ctxT(t, 5*time.Minute)
	env.alice = newRevClient(t, srv.Client(ctx, t, "alice", "alice-pw"))
	env.aliceKey = newUserKey(t, "xmpp:alice@"+srv.Domain)
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: env.alice.sess}, env.aliceKey, "open"); err != nil {
		t.Fatalf("alice publishes her key: %v", err)
	}
	svc, err := jid.Parse(srv.UploadComponent)
	if err != nil {
		t.Fatal(err)
	}
	up, err := upload.New(upload.Config{IQ: clientIQ{env.alice.sess}, Service: svc, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	bob := puppetOf(env, "bob@remote.example")
	send := func(id string, attach int, measure bool) {
		attachment := make([]byte, attach)
		rand.Read(attachment)
		m := marker("revmem")
		raw := []byte(mimeWithAttachment(m, attachment) + "\r\n")
		x, blob, err := payload.SealExternal(raw)
		if err != nil {
			t.Fatal(err)
		}
		if x.URL, err = up.Upload(ctx, bytes.NewReader(blob), int64(len(blob))); err != nil {
			t.Fatalf("alice uploads the blob: %v", err)
		}
		stanza := append(env.sealTo(t, bob, &payload.Payload{Body: "see the mail " + m,
			Mail: &payload.Mail{External: x, MessageID: m + "@remote.example"}}), receiptRequest()...)
		var w *peakWatch
		if measure {
			w = watchPeak(t, env.gw.cmd.Process.Pid)
		}
		env.alice.send(t, bob, id, stanza...)
		if r := env.alice.reply(t, id); r.Received == nil {
			t.Fatalf("refused: %s %q", r.condition(), r.Error.Text)
		}
		c := env.sink.waitComplete(t, "see the attachment "+m, 3*time.Minute)
		if w == nil {
			return
		}
		growth, before, peak := w.growth()
		if !strings.Contains(c.message, "DKIM-Signature:") {
			t.Fatal("the mail arrived without its DKIM signature")
		}
		if got := attachmentOf(t, c); !bytes.Equal(got, attachment) {
			t.Fatalf("the attachment (%d bytes) differs from the one sent", len(got))
		}
		verdict := "met"
		if growth > rssGoal25MB {
			verdict = "NOT met"
		}
		t.Logf("| reverse, one 25 MB mail (download, compose, SMTP) | RSS before %.1f MiB | peak %.1f MiB | growth %.1f MiB | goal <= %d MiB: %s |",
			mib(before), mib(peak), mib(growth), rssGoal25MB>>20, verdict)
		regressed(t, growth, rssGoal25MB)
	}
	send("W1", 1<<20, false)
	time.Sleep(time.Second)
	send("M1", 18<<20, true)
}

// idleConns is the count of idle SMTP connections and
// idleGoal its RSS bound for them.
const (
	idleConns = 10000
	idleGoal  = 300 << 20
)

// TestMemoryIdleConnections opens 10,000 SMTP connections to the MX
// listener, each greeted and past EHLO, then idle, and reports the
// gateway's resident set with all of them open (the row) and
// what each added. PASSERELLE_BENCH_CONNS changes the count.
func TestMemoryIdleConnections(t *testing.T) {
	needBench(t)
	n := idleConns
	if v, err := strconv.Atoi(os.Getenv("PASSERELLE_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	metricsAddr := freePort(t)
	gw := startGateway(t, gwConfig{ReadTimeout: "10m", MaxConnsPerIP: n + 100, Top: benchTop(),
		SMTPExtra: fmt.Sprintf("max_conns = %d", n+100), Extra: fmt.Sprintf("[metrics]\nlisten = %q\n", metricsAddr)})
	gw.waitReady(30 * time.Second)
	time.Sleep(time.Second)
	before := procStatus(gw.cmd.Process.Pid, "VmRSS:")
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := ehloIdle(gw.cfg.MXAddr)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // let the gateway settle
	rss := procStatus(gw.cmd.Process.Pid, "VmRSS:")
	{
		// the Go runtime's own split of that memory, from /metrics
		if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "go_memstats_heap_inuse") || strings.HasPrefix(l, "go_memstats_stack_inuse") ||
					strings.HasPrefix(l, "go_goroutines") || strings.HasPrefix(l, "go_memstats_sys") {
					t.Log(l)
				}
			}
		}
	}
	verdict := "met"
	if rss > idleGoal {
		verdict = "NOT met"
	}
	t.Logf("| %d idle SMTP connections (after EHLO) | RSS before %.1f MiB | RSS with them %.1f MiB | %.1f KiB each | goal <= %d MiB: %s |",
		n, mib(before), mib(rss), float64(rss-before)/1024/float64(n), idleGoal>>20, verdict)
	if n == idleConns {
		regressed(t, rss, idleGoal)
	}
	// Every connection must still be open and answering.
	for _, i := range []int{0, n / 2, n - 1} {
		if _, err := conns[i].Write([]byte("NOOP\r\n")); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if line, err := bufio.NewReader(conns[i]).ReadString('\n'); err != nil || !strings.HasPrefix(line, "250") {
			t.Fatalf("connection %d: NOOP: %q %v", i, line, err)
		}
	}
}

// ehloIdle connects, reads the greeting and sends EHLO, reading its whole
// reply: the connection is then idle in command mode.
func ehloIdle(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", line, err)
	}
	if _, err := c.Write([]byte("EHLO client.example\r\n")); err != nil {
		c.Close()
		return nil, err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "250") {
			c.Close()
			return nil, fmt.Errorf("EHLO reply %q: %v", line, err)
		}
		if strings.HasPrefix(line, "250 ") {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
