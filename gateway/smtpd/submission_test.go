package smtpd

import (
	"encoding/base64"
	"strings"
	"testing"
)

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func startSubmission(t *testing.T) (*testEnv, func() *client) {
	srvTLS, cliTLS := selfSigned(t)
	env := startServer(t, func(c *Config) {
		c.Mode, c.TLS, c.Authenticator, c.MaxAuthFailures = ModeSubmission, srvTLS, memAuth{}, 3
	})
	return env, func() *client {
		c := env.greeted(t)
		c.startTLS(cliTLS)
		c.cmd("EHLO client.example", 250)
		return c
	}
}

func TestSubmissionBeforeTLS(t *testing.T) {
	env, _ := startSubmission(t)
	c := env.dial(t)
	c.expect(220)
	ehlo := c.cmd("EHLO client.example", 250)
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("EHLO before TLS: %q", ehlo)
	}
	if r := c.cmd("AUTH PLAIN "+plain("", "alice@example.org", "s3cret"), 538); !strings.Contains(r, "5.7.11") {
		t.Fatalf("AUTH before TLS: %q", r)
	}
	if r := c.cmd("MAIL FROM:<alice@example.org>", 530); !strings.Contains(r, "5.7.0") {
		t.Fatalf("MAIL before AUTH: %q", r)
	}
	c.cmd("STARTTLS now", 501)
}

func TestSubmissionAuthPlain(t *testing.T) {
	env, connect := startSubmission(t)
	c := connect()
	c.cmd("MAIL FROM:<alice@example.org>", 530)
	c.cmd("AUTH PLAIN "+plain("", "alice@example.org", "s3cret"), 235)
	c.cmd("MAIL FROM:<alice@example.org>", 250)
	c.cmd("RCPT TO:<bob@other.example>", 550) // the Router decides: relaying needs its consent
	c.cmd("RCPT TO:<v@local>", 250)
	c.cmd("DATA", 354)
	c.send("Subject: sub\r\n\r\nhi\r\n.\r\n")
	c.expect(250)
	m := env.sink.last()
	if m.env.Session.AuthUser != "alice@example.org" || !m.env.Session.TLS ||
		!strings.Contains(m.env.Received, "with ESMTPSA") {
		t.Fatalf("envelope %+v", m.env)
	}
}

func TestSubmissionAuthLogin(t *testing.T) {
	_, connect := startSubmission(t)
	c := connect()
	c.cmd("AUTH LOGIN", 334)
	c.cmd(b64("alice@example.org"), 334)
	c.cmd(b64("s3cret"), 235)
	c.cmd("AUTH PLAIN "+plain("", "alice@example.org", "s3cret"), 503)
}

func TestSubmissionAuthFailures(t *testing.T) {
	_, connect := startSubmission(t)
	cases := []struct{ name, line, want string }{
		{"wrong password", "AUTH PLAIN " + plain("", "alice@example.org", "nope"), "535 5.7.8"},
		{"authzid differs", "AUTH PLAIN " + plain("bob@example.org", "alice@example.org", "s3cret"), "535 5.7.8 Authorization identity"},
		{"backend down", "AUTH PLAIN " + plain("", "down", "x"), "454 4.7.0"},
		{"malformed", "AUTH PLAIN " + b64("no-nuls"), "501 5.5.2"},
		{"unknown mechanism", "AUTH CRAM-MD5", "504"},
		{"cancelled", "AUTH PLAIN", "334"},
	}
	c := connect()
	for i, tc := range cases {
		t.Run(caseName(i, tc.name), func(t *testing.T) {
			c.t = t
			c.send(tc.line + "\r\n")
			_, lines := c.read()
			if got := lines[len(lines)-1]; !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want %s", got, tc.want)
			}
		})
	}
	c.cmd("*", 501)
	// Two failures so far (wrong password, authzid): the third closes.
	c.send("AUTH PLAIN " + plain("", "alice@example.org", "guess") + "\r\n")
	c.expect(535)
	if code, lines := c.read(); code != 421 || !c.closed() {
		t.Fatalf("want 421 after 3 failures, got %d %q", code, lines)
	}
}

func TestSubmissionAfterTLS(t *testing.T) {
	env, _ := startSubmission(t)
	_, cliTLS := selfSigned(t)
	cliTLS.InsecureSkipVerify = true
	c := env.greeted(t)
	c.startTLS(cliTLS)
	c.cmd("AUTH PLAIN "+plain("", "alice@example.org", "s3cret"), 503) // EHLO required again
	ehlo := c.cmd("EHLO client.example", 250)
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO after TLS: %q", ehlo)
	}
	c.cmd("STARTTLS", 503)
	// The strict reader guards the TLS session too.
	c.send("NOOP\nNOOP\r\n")
	if code, _ := c.read(); code != 554 || !c.closed() {
		t.Fatalf("bare LF inside TLS: want 554, got %d", code)
	}
}

func TestSTARTTLSInjection(t *testing.T) {
	env, _ := startSubmission(t)
	c := env.greeted(t)
	c.send("STARTTLS\r\nMAIL FROM:<x@y.example>\r\n")
	if code, lines := c.read(); code != 554 || !c.closed() {
		t.Fatalf("want 554 and close, got %d %q", code, lines)
	}
}

// TestSubmissionMailFromRouter: the Router's verdict on the reverse path
// reaches the client at MAIL, and no transaction is started.
func TestSubmissionMailFromRouter(t *testing.T) {
	_, connect := startSubmission(t)
	c := connect()
	c.cmd("AUTH PLAIN "+plain("", "alice@example.org", "s3cret"), 235)
	if r := c.cmd("MAIL FROM:<ceo@bank.example>", 550); !strings.Contains(r, "5.7.1 Sender address not owned") {
		t.Fatalf("forged MAIL FROM: %q", r)
	}
	c.cmd("RCPT TO:<v@local>", 502) // no transaction (go-smtp: 502 5.5.1)
	c.cmd("MAIL FROM:<alice@example.org>", 250)
	c.cmd("RCPT TO:<v@local>", 250)
}

// TestSubmissionLongSASLLine: a SASL line longer than a connection's first
// read buffer (smallStore) is read whole as the response after 334 (a
// command line, initial response included, is bounded by the command
// limit), and then commands go on as before.
func TestSubmissionLongSASLLine(t *testing.T) {
	_, connect := startSubmission(t)
	long := plain("", "alice@example.org", strings.Repeat("p", 8000)) // about 10.7 KiB of base64
	if len(long) <= smallStore || len(long) > saslLineLength-2 {
		t.Fatalf("a response of %d octets does not test the growth", len(long))
	}
	c := connect()
	c.cmd("AUTH PLAIN", 334)
	c.cmd(long, 535)
	c.cmd("AUTH PLAIN "+plain("", "alice@example.org", "s3cret"), 235)
	c.cmd("NOOP", 250)
}
