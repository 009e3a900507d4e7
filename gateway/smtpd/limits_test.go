package smtpd

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLineLength(t *testing.T) {
	env := startServer(t, func(c *Config) { c.MaxLineLength = 512 })
	c := env.greeted(t)
	c.cmd("NOOP "+strings.Repeat("x", 512-7), 250) // exactly 512 with CRLF
	c.send("NOOP " + strings.Repeat("x", 512-6) + "\r\n")
	if code, _ := c.read(); code != 500 || !c.closed() {
		t.Fatalf("want 500 and close, got %d", code)
	}
}

// TestCommandLineDefault: at the defaults a command line is bounded by RFC
// 5321 §4.5.3.1.4's 512 octets (a 600-octet one used to get 250), plus the
// allowances of the extensions used on MAIL and RCPT (RFC 1870, 3461).
func TestCommandLineDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  bool
		line string
		want int // 0: 500 5.5.2 and close
	}{
		{name: "600-octet NOOP", line: "NOOP " + strings.Repeat("x", 600-7)},
		{name: "600-octet HELO", line: "HELO " + strings.Repeat("h", 600-7)},
		{name: "512-octet NOOP", line: "NOOP " + strings.Repeat("x", 512-7), want: 250},
		{name: "MAIL with the longest path and parameters", dsn: true, want: 250,
			line: "MAIL FROM:<" + strings.Repeat("a", 64) + "@" + strings.Repeat(strings.Repeat("d", 59)+".", 3) + "example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=" + strings.Repeat("e", 100)},
		{name: "MAIL far over 512", line: "MAIL FROM:<a@b.example> " + strings.Repeat("X", 600)},
		{name: "RCPT with ORCPT under DSN", dsn: true, want: 250,
			line: "RCPT TO:<v@local> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;" + strings.Repeat("o", 700) + "@x.example"},
		{name: "RCPT with ORCPT without DSN", line: "RCPT TO:<v@local> ORCPT=rfc822;" + strings.Repeat("o", 700) + "@x.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startServer(t, func(c *Config) { c.EnableDSN = tc.dsn })
			c := env.greeted(t)
			if strings.HasPrefix(tc.line, "RCPT") {
				c.cmd("MAIL FROM:<a@sender.example>", 250)
			}
			c.send(tc.line + "\r\n")
			code, lines := c.read()
			if tc.want != 0 {
				if code != tc.want {
					t.Fatalf("%d octets: got %q, want %d", len(tc.line)+2, lines, tc.want)
				}
				return
			}
			if code != 500 || !strings.HasPrefix(lines[len(lines)-1], "500 5.5.2 line too long") || !c.closed() {
				t.Fatalf("%d octets: got %q, want 500 5.5.2 line too long and close", len(tc.line)+2, lines)
			}
		})
	}
}

// TestDataLineLength: a text line of DATA may have 1000 octets with CRLF
// (RFC 5321 §4.5.3.1.6); a longer one refuses the message at end of DATA,
// not mid-stream, and the session stays usable. The limit is a knob.
func TestDataLineLength(t *testing.T) {
	env := startServer(t, nil)
	c := env.greeted(t)
	send := func(body string, want int) {
		t.Helper()
		c.cmd("MAIL FROM:<a@sender.example>", 250)
		c.cmd("RCPT TO:<v@local>", 250)
		c.cmd("DATA", 354)
		c.send(body + ".\r\n")
		if code, lines := c.read(); code != want {
			t.Fatalf("got %q, want %d", lines, want)
		}
	}
	ok := "Subject: long\r\n\r\n" + strings.Repeat("y", 998) + "\r\n"
	send(ok, 250)
	if got := string(env.sink.last().data); got != ok {
		t.Fatalf("data mismatch: %d bytes, want %d", len(got), len(ok))
	}
	send("Subject: long\r\n\r\n"+strings.Repeat("y", 999)+"\r\n", 554)
	send("Subject: "+strings.Repeat("s", 2000)+"\r\n\r\nhi\r\n", 554)
	send(ok, 250) // the next transaction is not affected

	env = startServer(t, func(c *Config) { c.MaxDataLineLength = 1 << 20 })
	c = env.greeted(t)
	long := "Subject: long\r\n\r\n" + strings.Repeat("y", 20000) + "\r\n"
	send(long, 250)
	if got := string(env.sink.last().data); got != long {
		t.Fatalf("data mismatch: %d bytes, want %d", len(got), len(long))
	}
}

func TestMaxRecipients(t *testing.T) {
	env := startServer(t, nil)
	c := env.greeted(t)
	c.cmd("MAIL FROM:<a@sender.example>", 250)
	for i := range 100 {
		c.cmd(fmt.Sprintf("RCPT TO:<u%d@local>", i), 250)
	}
	if r := c.cmd("RCPT TO:<u100@local>", 452); !strings.Contains(r, "4.5.3") {
		t.Fatalf("101st: %q", r)
	}
	c.cmd("DATA", 354)
	c.send("Subject: many\r\n\r\nhi\r\n.\r\n")
	c.expect(250)
	rc := env.sink.last().env.Recipients
	if len(rc) != 100 || rc[0].Addr != "u0@local" || rc[99].Addr != "u99@local" {
		t.Fatalf("got %d recipients", len(rc))
	}
}

func TestMessageSize(t *testing.T) {
	env := startServer(t, func(c *Config) { c.MaxMessageBytes = 1000 })
	c := env.greeted(t)
	if r := c.cmd("MAIL FROM:<a@sender.example> SIZE=1001", 552); !strings.Contains(r, "5.3.4") {
		t.Fatalf("SIZE: %q", r)
	}
	c.cmd("MAIL FROM:<a@sender.example> SIZE=10", 250)
	c.cmd("RCPT TO:<v@local>", 250)
	c.cmd("DATA", 354)
	c.send("Subject: big\r\n\r\n" + strings.Repeat("z", 2000) + "\r\n.\r\n")
	if r := c.expect(552); !strings.Contains(r, "5.3.4") {
		t.Fatalf("end of data: %q", r)
	}
	c.cmd("NOOP", 250) // still in sync after the discarded body
	if env.sink.count() != 0 {
		t.Fatal("oversized message accepted")
	}
}

func TestConnsPerIP(t *testing.T) {
	env := startServer(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	a, b := env.dial(t), env.dial(t)
	a.expect(220)
	b.expect(220)
	c := env.dial(t)
	code, lines := c.read()
	if code != 421 || !strings.Contains(lines[0], "4.7.0") || !c.closed() {
		t.Fatalf("third: %d %q", code, lines)
	}
	a.cmd("QUIT", 221)
	a.closed()
	deadline := time.Now().Add(2 * time.Second)
	for {
		d := env.dial(t)
		if code, _ := d.read(); code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not released after QUIT")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxConns(t *testing.T) {
	env := startServer(t, func(c *Config) { c.MaxConns = 1 })
	env.dial(t).expect(220)
	c := env.dial(t)
	if code, _ := c.read(); code != 421 {
		t.Fatalf("want 421, got %d", code)
	}
}

func TestBadCommands(t *testing.T) {
	env := startServer(t, func(c *Config) { c.MaxBadCommands = 3 })
	c := env.greeted(t)
	c.cmd("XYZZY", 500)
	c.cmd("DATA", 502) // no transaction (go-smtp's code)
	c.send("LHLO x\r\n")
	c.expect(500)
	code, lines := c.read()
	if code != 421 || !c.closed() {
		t.Fatalf("want 421 and close, got %d %q", code, lines)
	}
}

func TestReadTimeout(t *testing.T) {
	env := startServer(t, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })
	c := env.greeted(t)
	c.cmd("MAIL FROM:<a@sender.example>", 250)
	c.cmd("RCPT TO:<v@local>", 250)
	c.cmd("DATA", 354)
	c.send("Subject: slow\r\n") // then stall inside DATA
	code, lines := c.read()
	if code != 421 || !strings.Contains(lines[0], "4.4.2") || !c.closed() {
		t.Fatalf("want 421 4.4.2 and close, got %d %q", code, lines)
	}
	if env.sink.count() != 0 {
		t.Fatal("partial message accepted")
	}
}

func TestSinkErrors(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("spool: write /var/spool/x: %w", StorageFull), "452 4.3.1"},
		{fmt.Errorf("queue: %w", TemporaryFailure), "451 4.3.0"},
		{fmt.Errorf("fsync /secret/path: input/output error"), "451 4.3.0 Temporary local problem"},
		{&Reject{Code: 554, Enhanced: [3]int{5, 7, 1}, Msg: "Message refused by policy"}, "554 5.7.1 Message refused by policy"},
		{TooBig, "552 5.3.4"},
	}
	env := startServer(t, nil)
	c := env.greeted(t)
	for i, tc := range cases {
		t.Run(caseName(i, tc.want), func(t *testing.T) {
			c.t = t
			env.sink.mu.Lock()
			env.sink.err = tc.err
			env.sink.mu.Unlock()
			c.cmd("MAIL FROM:<a@sender.example>", 250)
			c.cmd("RCPT TO:<v@local>", 250)
			c.cmd("DATA", 354)
			c.send("Subject: s\r\n\r\nhi\r\n.\r\n")
			_, lines := c.read()
			if got := lines[len(lines)-1]; !strings.HasPrefix(got, tc.want) || strings.Contains(got, "/") {
				t.Fatalf("got %q, want %s", got, tc.want)
			}
		})
	}
}

func TestShutdownDrains(t *testing.T) {
	env := startServer(t, nil)
	idle := env.greeted(t)
	busy := env.greeted(t)
	busy.cmd("MAIL FROM:<a@sender.example>", 250)
	busy.cmd("RCPT TO:<v@local>", 250)
	busy.cmd("DATA", 354)
	busy.send("Subject: in flight\r\n")
	done := make(chan error, 1)
	go func() { done <- env.srv.Shutdown(t.Context()) }()
	if code, _ := idle.read(); code != 421 {
		t.Fatalf("idle connection: want 421, got %d", code)
	}
	time.Sleep(100 * time.Millisecond)
	busy.send("\r\nstill here\r\n.\r\n")
	busy.expect(250)
	busy.send("QUIT\r\n")
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if env.sink.count() != 1 {
		t.Fatal("in-flight message lost")
	}
}

// TestRateLimitedCloses: RCPTs the Router refuses for rate get 451 4.7.1;
// after MaxBadCommands of them the client is told 421 and disconnected.
func TestRateLimitedCloses(t *testing.T) {
	env := startServer(t, func(c *Config) { c.MaxBadCommands = 3 })
	c := env.greeted(t)
	c.cmd("MAIL FROM:<a@sender.example>", 250)
	for range 2 {
		if r := c.cmd("RCPT TO:<limited@local>", 451); !strings.Contains(r, "4.7.1") {
			t.Fatalf("rate-limited RCPT: %q", r)
		}
	}
	c.send("RCPT TO:<limited@local>\r\n")
	c.expect(451)
	if code, lines := c.read(); code != 421 || !c.closed() {
		t.Fatalf("want 421 and close after 3 rate-limited RCPTs, got %d %q", code, lines)
	}
}
