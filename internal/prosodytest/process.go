package prosodytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// start launches prosody in the foreground and waits until its ports accept.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "prosody.stdout"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	cmd := exec.Command("prosody", "--config", s.ConfigFile, "-F")
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start prosody: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	return s.waitReady(done)
}

func (s *Server) waitReady(done <-chan struct{}) error {
	addrs := []string{s.C2SAddr, s.ComponentAddr}
	if s.UploadComponent != "" {
		addrs = append(addrs, s.HTTPAddr) // mod_http loads only with a user
	}
	if s.S2SAddr != "" {
		addrs = append(addrs, s.S2SAddr)
	}
	deadline := time.Now().Add(startTimeout)
	for _, a := range addrs {
		for !accepts(a) {
			select {
			case <-done:
				return fmt.Errorf("prosody exited during start-up (see %s)", s.LogFile)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("prosody did not listen on %s within %v", a, startTimeout)
			}
		}
	}
	return nil
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop terminates Prosody by its pid (SIGTERM, SIGKILL after 5 s) and waits
// for it to exit. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal prosody %d: %w", cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("prosody %d ignored SIGTERM; killed", cmd.Process.Pid)
}

// Restart stops the server if it runs and starts it again on the same ports
// with the same data. It fails the test on error.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.Stop(); err != nil {
		s.t.Logf("prosodytest: %v", err)
	}
	if err := s.StartAgain(); err != nil {
		s.t.Fatalf("prosodytest: restart: %v", err)
	}
}

// StartAgain starts a stopped server on its old ports. Unlike Restart it
// returns the error, so it may be called from any goroutine.
func (s *Server) StartAgain() error {
	return s.start()
}

// Running reports whether the Prosody process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Pid returns the running Prosody's process id, or 0.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// DumpLog writes the tail of Prosody's log (and stdout) to the test log.
func (s *Server) DumpLog() {
	for _, f := range []string{s.LogFile, filepath.Join(s.Dir, "prosody.stdout")} {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		const max = 32 << 10
		if len(data) > max {
			data = data[len(data)-max:]
		}
		s.t.Logf("prosodytest: ---- %s (tail) ----\n%s", filepath.Base(f), data)
	}
}
