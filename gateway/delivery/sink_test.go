package delivery

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSink runs Postfix's smtp-sink on 127.0.0.1 until the test ends.
// With dump set, each transaction is written to a file in the returned
// directory (smtp-sink stores lines with LF endings, dot-unstuffed, after
// its own X-* and Received headers, followed by an empty line).
func startSink(t testing.TB, dump bool, flags ...string) (port int, dir string) {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		t.Fatal("smtp-sink not found (Postfix): run make deps")
	}
	port = freePort(t)
	var args []string
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // required as root
	}
	if dump {
		dir, err = os.MkdirTemp("", "sink")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o777); err != nil { // written as nobody
			t.Fatal(err)
		}
		args = append(args, "-d", filepath.Join(dir, "msg."))
	}
	args = append(args, flags...)
	args = append(args, "127.0.0.1:"+strconv.Itoa(port), "64")
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, port)
	return port, dir
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t testing.TB, port int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
	}
	t.Fatal("smtp-sink did not start")
}

// sinkCapture waits for the one message in dir and returns its smtp-sink
// headers and the message as received.
func sinkCapture(t *testing.T, dir string) (meta, message string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "msg.*"))
		if len(files) != 1 {
			continue
		}
		b, err := os.ReadFile(files[0])
		if err != nil || !bytes.HasSuffix(b, []byte("end\n\n")) {
			continue
		}
		// The Received header is three lines and ends smtp-sink's part.
		i := strings.Index(string(b), "\nReceived: ")
		rest := string(b[i+1:])
		for range 3 {
			rest = rest[strings.IndexByte(rest, '\n')+1:]
		}
		return string(b[:i+1]), rest
	}
	t.Fatal("no complete capture in smtp-sink's dump directory")
	return "", ""
}

func TestSmtpSinkByteExact(t *testing.T) {
	port, dir := startSink(t, true)
	tg := newTestTarget(t, port, nil)
	if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
	meta, got := sinkCapture(t, dir)
	if want := strings.ReplaceAll(dotBody, "\r\n", "\n") + "\n"; got != want {
		t.Errorf("captured %q, want %q", got, want)
	}
	for _, h := range []string{"X-Helo-Args: gw.example.net\n", "X-Mail-Args: <alice@example.net>", "X-Rcpt-Args: <bob@example.org>"} {
		if !strings.Contains(meta, h) {
			t.Errorf("capture lacks %q:\n%s", h, meta)
		}
	}
}

func TestSmtpSinkFailures(t *testing.T) {
	tests := []struct {
		flags         []string
		wantPermanent bool
		wantStatus    string
		wantText      string
	}{
		{[]string{"-f", "RCPT"}, true, "5.3.0", "500 5.3.0 Error: command failed"},
		{[]string{"-r", "RCPT"}, false, "4.3.0", "450 4.3.0 Error: command failed"},
		{[]string{"-f", "."}, true, "5.3.0", "500 5.3.0 Error: command failed"},
		{[]string{"-r", "."}, false, "4.3.0", "450 4.3.0 Error: command failed"},
		{[]string{"-B", "554 5.7.1 go away", "-f", "MAIL"}, true, "5.7.1", "554 5.7.1 go away"},
		{[]string{"-f", "CONNECT"}, true, "5.3.0", "500 5.3.0 Error: command failed"},
		{[]string{"-Q", "RCPT"}, false, "4.0.0", "421 4.0.0 Server closing connection"},
		{[]string{"-q", "DATA"}, false, "4.4.2", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			port, _ := startSink(t, false, tt.flags...)
			tg := newTestTarget(t, port, nil)
			err := tg.Send(context.Background(), msg("bob@example.org", dotBody))
			d := wantOutcome(t, err, tt.wantPermanent, tt.wantStatus)
			if tt.wantText != "" && d.Text != tt.wantText {
				t.Errorf("diagnostic text = %q, want %q", d.Text, tt.wantText)
			}
		})
	}
}

func BenchmarkDeliver(b *testing.B) {
	port, _ := startSink(b, false)
	body := "From: a@example.net\r\nSubject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 62)+"\r\n", 63)
	body += strings.Repeat("y", 4096-len(body)-2) + "\r\n"
	tg := newTestTarget(b, port, func(c *Config) { c.Logger = nil; c.MaxPerDestination = 64 })
	send := func() {
		m := msg("bob@example.org", body)
		if err := tg.Send(context.Background(), m); err != nil {
			b.Error(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			send()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				send()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
