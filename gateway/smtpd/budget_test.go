package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdSink keeps every message it is given until release is closed, so the
// test can look at the memory held while transactions are open.
type holdSink struct {
	arrived chan struct{}
	release chan struct{}
	mu      sync.Mutex
	stored  int
}

func (s *holdSink) Accept(ctx context.Context, _ *Envelope, data []byte) error {
	s.arrived <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	_ = data[len(data)-1] // held until here
	s.mu.Lock()
	s.stored++
	s.mu.Unlock()
	return nil
}

// block is 64 KiB of 64-octet lines; a message is blocks of it.
var block = strings.Repeat(strings.Repeat("x", 62)+"\r\n", 1024)

// sendBig runs one transaction of nblocks×64 KiB over TCP and returns the
// reply code to DATA, or 452 to MAIL (0 on a protocol failure, with the
// reason).
func sendBig(addr string, nblocks int, declare bool) (int, string) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err.Error()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(nc)
	w := bufio.NewWriter(nc)
	reply := func() int {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return 0
			}
			if len(line) < 4 || line[3] != '-' {
				code, _ := strconv.Atoi(line[:3])
				return code
			}
		}
	}
	size := ""
	if declare {
		size = fmt.Sprintf(" SIZE=%d", nblocks*len(block))
	}
	steps := []struct {
		cmd  string
		want int
	}{{"", 220}, {"EHLO client.example", 250}, {"MAIL FROM:<a@remote.example>" + size, 250},
		{"RCPT TO:<u@local>", 250}, {"DATA", 354}}
	for _, st := range steps {
		if st.cmd != "" {
			w.WriteString(st.cmd + "\r\n")
			w.Flush()
		}
		got := reply()
		if got == 452 && strings.HasPrefix(st.cmd, "MAIL") {
			return 452, "" // the declared SIZE does not fit now: refused early
		}
		if got != st.want {
			return 0, fmt.Sprintf("%q: got %d, want %d", st.cmd, got, st.want)
		}
	}
	w.WriteString("Subject: big\r\n\r\n")
	for range nblocks {
		w.WriteString(block)
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return 0, err.Error()
	}
	code := reply()
	w.WriteString("QUIT\r\n") // the session is still in step after a refusal
	w.Flush()
	if q := reply(); q != 221 {
		return 0, fmt.Sprintf("QUIT after DATA %d: got %d", code, q)
	}
	return code, ""
}

func heapLive() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestDataMemoryBudget is H4: more DATA than the budget, concurrently over
// real TCP, with the accepted transactions held open in the Sink. Some are
// refused with 452 4.3.1, every one gets an answer, each 250 is stored, and
// the live heap while all are open stays within the budget's share for
// DATA (runtime.MemStats after a GC, not a timing).
func TestDataMemoryBudget(t *testing.T) {
	const (
		clients = 10
		blocks  = 48 // 3 MiB each
		budget  = 32 << 20
	)
	sink := &holdSink{arrived: make(chan struct{}, clients), release: make(chan struct{})}
	env := startServer(t, func(c *Config) {
		c.Sink = sink
		c.MaxMessageBytes = budget / DataMemoryFactor
		c.DataBudget = NewBudget(budget)
	})
	type result struct {
		code int
		why  string
	}
	results := make(chan result, clients)
	base := heapLive()
	for i := range clients {
		go func() {
			code, why := sendBig(env.addr, blocks, i%2 == 0)
			results <- result{code, why}
		}()
	}
	held, refused, accepted := 0, 0, 0
	count := func(r result) {
		switch r.code {
		case 250:
			accepted++
		case 452:
			refused++
		default:
			t.Errorf("transaction failed: %d %s", r.code, r.why)
			refused++ // counted, so the wait below ends
		}
	}
	for held+refused < clients {
		select {
		case <-sink.arrived:
			held++
		case r := <-results:
			count(r)
		case <-time.After(60 * time.Second):
			t.Fatalf("stuck: %d held, %d refused", held, refused)
		}
	}
	live := int64(heapLive()) - int64(base)
	close(sink.release)
	for range held {
		count(<-results)
	}
	t.Logf("held %d, accepted %d, refused %d, live heap with all open %d KiB", held, accepted, refused, live>>10)
	if refused == 0 {
		t.Errorf("no transaction refused: %d × %d KiB went past a %d KiB budget", clients, blocks*64, budget>>10)
	}
	if sink.stored != accepted || accepted+refused != clients {
		t.Errorf("stored %d, accepted %d, refused %d of %d", sink.stored, accepted, refused, clients)
	}
	if limit := int64(budget/DataMemoryFactor + 4<<20); live > limit {
		t.Errorf("live heap grew by %d KiB with the transactions open, want <= %d KiB", live>>10, limit>>10)
	}
	if used := env.srv.budget.Used(); used != 0 {
		t.Errorf("budget still holds %d bytes after every transaction ended", used)
	}
}

// TestDataBudgetRefusesDeclaredSize: with the budget spent, a MAIL whose
// SIZE could not be held gets 452 4.3.1 at once (RFC 1870 §6.1), before
// any DATA is sent; a small one still passes.
func TestDataBudgetRefusesDeclaredSize(t *testing.T) {
	b := NewBudget(16 << 20)
	env := startServer(t, func(c *Config) { c.DataBudget = b; c.MaxMessageBytes = 2 << 20 })
	if !b.tryReserve(15 << 20) { // other transactions hold most of it
		t.Fatal("reserve")
	}
	defer b.release(15 << 20)
	tests := []struct {
		name string
		size int
		want int
	}{
		{"too big for what is free", 1 << 20, 452},
		{"small enough", 4 << 10, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.greeted(t)
			c.cmd(fmt.Sprintf("MAIL FROM:<a@remote.example> SIZE=%d", tt.size), tt.want)
		})
	}
}

// prependSink records whether Envelope.Prepend copied the message.
type prependSink struct {
	mu     sync.Mutex
	copied []bool
	ok     []bool
}

func (s *prependSink) Accept(_ context.Context, env *Envelope, data []byte) error {
	raw := env.Prepend(data, "X-A: 1\r\n", env.Received)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.copied = append(s.copied, &raw[len(raw)-1] != &data[len(data)-1])
	s.ok = append(s.ok, strings.HasPrefix(string(raw), "X-A: 1\r\n"+env.Received) &&
		string(raw[len(raw)-len(data):]) == string(data))
	return nil
}

// TestPrependDoesNotCopy: the Sink's trace fields go into the room smtpd
// left in front of DATA, so the message is held once (H4), whether the
// client declared SIZE (one buffer) or not (chunks joined once); data the
// Sink rewrote is copied.
func TestPrependDoesNotCopy(t *testing.T) {
	sink := &prependSink{}
	env := startServer(t, func(c *Config) { c.Sink = sink; c.MaxMessageBytes = 8 << 20 })
	for _, tt := range []struct {
		blocks  int
		declare bool
	}{{0, false}, {8, true}, {8, false}} {
		if code, why := sendBig(env.addr, tt.blocks, tt.declare); code != 250 {
			t.Fatalf("%+v: %d %s", tt, code, why)
		}
	}
	for i := range sink.copied {
		if sink.copied[i] || !sink.ok[i] {
			t.Errorf("transaction %d: copied %v, content right %v", i, sink.copied[i], sink.ok[i])
		}
	}
	e := &Envelope{}
	if raw := e.Prepend([]byte("body"), "A: 1\r\n"); string(raw) != "A: 1\r\nbody" {
		t.Errorf("fallback Prepend = %q", raw)
	}
}
