package smtpd

import (
	"strings"
	"testing"
	"time"
)

// Published SMTP smuggling end-of-data variants (SEC Consult 2023 and
// follow-ups). Each is sent after 354, followed by a spoofed transaction.
var smuggleVectors = []string{
	"\n.\n", "\n.\r\n", "\r.\r\n", "\r.\n", "\n.\r", "\r.\r", "\r\n.\r",
	"\r\n.\r\r\n", "\r\r\n.\r\r\n", "\r\n\x00.\r\n", "\r\n.\x00\r\n",
}

const spoofed = "MAIL FROM:<ceo@example.org>\r\nRCPT TO:<v@local>\r\nDATA\r\n" +
	"From: ceo@example.org\r\nSubject: smuggled\r\n\r\npay now\r\n.\r\n"

func TestSmuggling(t *testing.T) {
	env := startServer(t, nil)
	for i, vec := range smuggleVectors {
		t.Run(strings.NewReplacer("\r", "CR", "\n", "LF", "\x00", "NUL").Replace(vec), func(t *testing.T) {
			before := env.sink.count()
			c := env.greeted(t)
			c.cmd("MAIL FROM:<a@sender.example>", 250)
			c.cmd("RCPT TO:<v@local>", 250)
			c.cmd("DATA", 354)
			c.send("Subject: legit " + string(rune('a'+i)) + "\r\n\r\nhello" + vec + spoofed)
			code, lines := c.read()
			if code != 554 || !strings.Contains(lines[0], "5.5.2") {
				t.Fatalf("want 554 5.5.2, got %d %q", code, lines)
			}
			if !c.closed() {
				t.Fatal("connection not closed")
			}
			if got := env.sink.count() - before; got != 0 {
				t.Fatalf("sink got %d messages, want 0", got)
			}
		})
	}
}

// A legitimate message followed by a smuggling attempt in the next one:
// exactly the legitimate message arrives.
func TestSmugglingAfterLegitMessage(t *testing.T) {
	env := startServer(t, nil)
	c := env.greeted(t)
	c.cmd("MAIL FROM:<a@sender.example>", 250)
	c.cmd("RCPT TO:<v@local>", 250)
	c.cmd("DATA", 354)
	c.send("Subject: one\r\n\r\n..dot\r\n.\r\n")
	c.expect(250)
	c.cmd("MAIL FROM:<a@sender.example>", 250)
	c.cmd("RCPT TO:<v@local>", 250)
	c.cmd("DATA", 354)
	c.send("Subject: two\r\n\r\nx\n.\n" + spoofed)
	if code, _ := c.read(); code != 554 || !c.closed() {
		t.Fatalf("want 554 and close, got %d", code)
	}
	if n := env.sink.count(); n != 1 {
		t.Fatalf("sink got %d messages, want 1", n)
	}
	if got := string(env.sink.last().data); got != "Subject: one\r\n\r\n.dot\r\n" {
		t.Fatalf("data %q", got)
	}
}

func TestBareLineEndingsInCommands(t *testing.T) {
	cases := []struct{ name, send string }{
		{"bare LF", "MAIL FROM:<a@b.example>\nRCPT TO:<v@local>\r\n"},
		{"bare CR", "MAIL FROM:<a@b.example>\rRCPT TO:<v@local>\r\n"},
		{"NUL", "NOOP\x00\r\n"},
	}
	env := startServer(t, nil)
	for i, tc := range cases {
		t.Run(caseName(i, tc.name), func(t *testing.T) {
			c := env.greeted(t)
			c.send(tc.send)
			code, _ := c.read()
			if code != 554 || !c.closed() {
				t.Fatalf("want 554 and close, got %d", code)
			}
		})
	}
}

func TestDataBefore354(t *testing.T) {
	env := startServer(t, nil)
	c := env.greeted(t)
	c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<v@local>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
	c.expect(250)
	c.expect(250)
	code, lines := c.read()
	if code != 554 || !strings.Contains(lines[0], "before 354") || !c.closed() {
		t.Fatalf("want 554 data sent before 354 and close, got %d %q", code, lines)
	}
	if env.sink.count() != 0 {
		t.Fatal("message accepted")
	}
}

// The pipelined group without data is fine (RFC 2920).
func TestPipelinedEnvelope(t *testing.T) {
	env := startServer(t, nil)
	c := env.greeted(t)
	c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<v@local>\r\nRCPT TO:<w@example.org>\r\nDATA\r\n")
	c.expect(250)
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.send("Subject: p\r\n\r\nhi\r\n.\r\nQUIT\r\n")
	c.expect(250)
	c.expect(221)
	if m := env.sink.last(); len(m.env.Recipients) != 2 || m.env.Recipients[1].Route != "route:w" {
		t.Fatalf("recipients %+v", m.env.Recipients)
	}
}

func TestEarlyTalker(t *testing.T) {
	env := startServer(t, func(c *Config) { c.GreetDelay = 300 * time.Millisecond })
	c := env.dial(t)
	c.send("EHLO fast.example\r\n")
	code, lines := c.read()
	if code != 554 || !strings.Contains(lines[0], "before greeting") || !c.closed() {
		t.Fatalf("want 554 no talking before greeting, got %d %q", code, lines)
	}
	c2 := env.dial(t)
	start := time.Now()
	c2.expect(220)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("greeting after %v, want the delay", d)
	}
}

func TestBDATRefused(t *testing.T) {
	env := startServer(t, nil)
	c := env.dial(t)
	c.expect(220)
	ehlo := c.cmd("EHLO client.example", 250)
	if strings.Contains(ehlo, "CHUNKING") || strings.Contains(ehlo, "BINARYMIME") {
		t.Fatalf("EHLO advertises chunking: %q", ehlo)
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 41943040"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s: %q", ext, ehlo)
		}
	}
	c.cmd("MAIL FROM:<a@sender.example>", 250)
	c.cmd("RCPT TO:<v@local>", 250)
	c.send("BDAT 20 LAST\r\nMAIL FROM:<x@y.example>\r\n")
	if code, _ := c.read(); code != 502 || !c.closed() {
		t.Fatalf("want 502 and close, got %d", code)
	}
}

func caseName(i int, name string) string { return string(rune('a'+i)) + "-" + name }
