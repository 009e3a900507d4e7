package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// TestDiskFullNeverAcknowledges fills a tiny tmpfs spool over SMTP: once
// the disk is full every message gets 452 4.3.1, and every message that got
// 250 is in the spool.
func TestDiskFullNeverAcknowledges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", spool).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", spool).Run() })
	g := startGateway(t, gwConfig{Dir: dir, Encryption: "none"})

	body := strings.Repeat(strings.Repeat("0123456789abcdef", 4)+"\n", 256) // 16 KiB in 64-octet lines (RFC 5321 §4.5.3.1.6)
	var accepted []string
	full := 0
	for i := 0; i < 40 && full < 3; i++ {
		marker := fmt.Sprintf("fill-%d", i)
		out, _ := exec.Command("swaks", "--server", g.cfg.MXAddr, "--from", "bob@remote.example",
			"--to", "alice@example.org", "--header", "Subject: "+marker, "--body", body).CombinedOutput()
		switch {
		case strings.Contains(string(out), "<-  250 2.0.0 OK"):
			accepted = append(accepted, marker)
		case strings.Contains(string(out), "<** 452 4.3.1"):
			full++
		default:
			t.Fatalf("message %d: neither 250 nor 452 4.3.1:\n%s", i, out)
		}
	}
	if full == 0 {
		t.Fatalf("the 256 KiB spool never filled up after %d messages", len(accepted))
	}
	g.stop(syscall.SIGKILL)
	st, damaged, err := queue.Open(context.Background(), spool, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	envs, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(damaged) != 0 || len(envs) != len(accepted) {
		t.Fatalf("spool holds %d messages (%d damaged), but %d got 250", len(envs), len(damaged), len(accepted))
	}
	t.Logf("disk full: %d accepted before the spool filled, then %d refused with 452 4.3.1; spool holds exactly the accepted ones", len(accepted), full)
}
