package smtpd

import (
	"maps"
	"sync"
	"testing"
)

// countMetrics records every count, keyed "kind listener value".
type countMetrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *countMetrics) add(k string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[k]++
}

func (m *countMetrics) Connection(l, r string)  { m.add("conn " + l + " " + r) }
func (m *countMetrics) Transaction(l, r string) { m.add("txn " + l + " " + r) }
func (m *countMetrics) Reply(l, c string)       { m.add("reply " + l + " " + c) }

func (m *countMetrics) snapshot() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.n)
}

func TestMetricsCountConnectionsTransactionsReplies(t *testing.T) {
	m := &countMetrics{}
	env := startServer(t, func(c *Config) { c.Metrics = m })
	c := env.dial(t)
	c.expect(220)
	c.cmd("EHLO client.example", 250)
	c.cmd("MAIL FROM:<a@remote.example>", 250)
	c.cmd("RCPT TO:<bob@example.org>", 250)
	c.cmd("DATA", 354)
	c.cmd("Subject: x\r\n\r\nhello\r\n.", 250)
	c.cmd("MAIL FROM:<a@remote.example>", 250)
	c.cmd("RCPT TO:<bob@elsewhere.example>", 550)
	c.cmd("QUIT", 221)
	// The server counts a reply just after writing it: wait for its close
	// after 221, so the last count has happened before the snapshot.
	c.expect(0)
	want := map[string]int{
		"conn mx accepted": 1,
		"txn mx accepted":  1,
		"reply mx 2xx":     7, // greeting, EHLO, MAIL, RCPT, end of DATA, MAIL, QUIT
		"reply mx 3xx":     1,
		"reply mx 5xx":     1,
	}
	if got := m.snapshot(); !maps.Equal(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
}

func TestReplyClass(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"250 2.0.0 ok", "2xx"}, {"354 go ahead", "3xx"}, {"421 4.3.2 busy", "4xx"},
		{"550-5.1.1 no", "5xx"}, {"", ""}, {"12", ""}, {"650 x", ""}, {"hello", ""},
	} {
		if got := replyClass(tc.line); got != tc.want {
			t.Errorf("replyClass(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
