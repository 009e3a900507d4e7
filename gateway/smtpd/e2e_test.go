package smtpd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tool finds an outside client; CI installs them, so a missing one fails.
func tool(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found: install it (apt-get install -y swaks postfix); this end-to-end test needs the real client", name)
	return ""
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestSwaks(t *testing.T) {
	swaks := tool(t, "swaks")
	env := startServer(t, nil)
	msg := "From: a@sender.example\r\nTo: v@local\r\nSubject: swaks\r\n\r\n" +
		".leading dot\r\n8bit: caf\xc3\xa9\r\n\r\nend\r\n"
	file := filepath.Join(t.TempDir(), "msg.eml")
	// swaks ends the data with CRLF "." CRLF itself, so the file lacks the last CRLF.
	if err := os.WriteFile(file, []byte(strings.TrimSuffix(msg, "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, swaks, "--server", env.addr, "--from", "a@sender.example", "--to", "v@local",
		"--helo", "swaks.example", "--data", "@"+file, "--pipeline")
	if env.sink.count() != 1 {
		t.Fatalf("sink got %d messages", env.sink.count())
	}
	m := env.sink.last()
	if !bytes.Equal(m.data, []byte(msg)) {
		t.Fatalf("sink got\n%q\nwant\n%q", m.data, msg)
	}
	if m.env.From != "a@sender.example" || m.env.Recipients[0].Addr != "v@local" {
		t.Fatalf("envelope %+v", m.env)
	}
}

func TestSwaksRelayRefused(t *testing.T) {
	swaks := tool(t, "swaks")
	env := startServer(t, nil)
	cmd := exec.CommandContext(t.Context(), swaks, "--server", env.addr, "--from", "a@sender.example",
		"--to", "v@other.example", "--quit-after", "RCPT")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "550 5.7.1") {
		t.Fatalf("swaks relay attempt: err=%v\n%s", err, out)
	}
}

func TestSmtpSource(t *testing.T) {
	src := tool(t, "smtp-source")
	env := startServer(t, nil)
	start := time.Now()
	run(t, src, "-m", "50", "-s", "5", "-l", "2048", "-f", "a@sender.example", "-t", "v@local", env.addr)
	elapsed := time.Since(start)
	if n := env.sink.count(); n != 50 {
		t.Fatalf("sink got %d messages, want 50", n)
	}
	for _, m := range env.sink.msgs {
		checkMessage(t, m.data)
	}
	t.Logf("smtp-source: 50 messages in %v (%.0f msg/s)", elapsed, 50/elapsed.Seconds())
}
