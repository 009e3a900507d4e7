package ejabberdtest

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

// erlLibs finds the directory holding Debian's ejabberd-<version> OTP
// application (/usr/lib/x86_64-linux-gnu on amd64), which is what
// ejabberdctl puts in ERL_LIBS.
func erlLibs() (string, error) {
	apps, _ := filepath.Glob("/usr/lib/*/ejabberd-*/ebin/ejabberd.app")
	if len(apps) == 0 {
		return "", errors.New("ejabberd is not installed (no /usr/lib/*/ejabberd-*/ebin/ejabberd.app): run scripts/deps-ejabberd.sh (make test-ejabberd does)")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(apps[0]))), nil
}

// start runs the Erlang VM with ejabberd in the foreground, as root, in
// its own process group, and waits until its ports accept. It starts no
// Erlang distribution at all (no -sname: the node is nonode@nohost), so
// no epmd, no distribution port and no cookie: nothing another test or the
// system's ejabberd could reach or clash with. ejabberdctl would su to the
// ejabberd user and connect over distribution; accounts are made through
// mod_http_api instead (Register).
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	libs, err := erlLibs()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "logs", "erl.stdout"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	cmd := exec.Command("erl", "-noinput", "-noshell", "-start_epmd", "false",
		"-mnesia", "dir", fmt.Sprintf("%q", filepath.Join(s.Dir, "spool")), "-s", "ejabberd")
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(),
		"HOME="+s.Dir,
		"ERL_LIBS="+libs,
		"EJABBERD_CONFIG_PATH="+s.ConfigFile,
		"EJABBERD_LOG_PATH="+s.LogFile,
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_CRASH_DUMP="+filepath.Join(s.Dir, "logs", "erl_crash.dump"),
		"ERL_CRASH_DUMP_BYTES=0",
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start erl: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(done); err != nil {
		s.kill(cmd, done)
		s.cmd, s.done = nil, nil
		return err
	}
	return nil
}

func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for _, a := range []string{s.C2SAddr, s.ComponentAddr, s.HTTPAddr} {
		for !accepts(a) {
			select {
			case <-done:
				return fmt.Errorf("ejabberd exited during start-up (see %s)", s.LogFile)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("ejabberd did not listen on %s within %v", a, startTimeout)
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

// Stop terminates the Erlang VM (SIGTERM to its process group, which is
// beam.smp and its erl_child_setup only; SIGKILL after 15 s) and waits for
// it to exit. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	pid := cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal ejabberd %d: %w", pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
	}
	s.kill(cmd, done)
	return fmt.Errorf("ejabberd %d ignored SIGTERM; killed", pid)
}

// halt kills the VM outright (SIGKILL to its process group) and waits:
// the end of a test, whose spool is thrown away, needs none of the 2-3 s
// a graceful stop takes.
func (s *Server) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.kill(s.cmd, s.done)
		s.cmd, s.done = nil, nil
	}
}

func (s *Server) kill(cmd *exec.Cmd, done <-chan struct{}) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart stops the server if it runs and starts it again on the same
// ports with the same data (the mnesia spool). It fails the test on error.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.Stop(); err != nil {
		s.t.Logf("ejabberdtest: %v", err)
	}
	if err := s.StartAgain(); err != nil {
		s.t.Fatalf("ejabberdtest: restart: %v", err)
	}
}

// StartAgain starts a stopped server on its old ports. Unlike Restart it
// returns the error, so it may be called from any goroutine.
func (s *Server) StartAgain() error {
	return s.start()
}

// Running reports whether the Erlang VM is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Pid returns the running VM's process id (beam.smp), or 0.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// DumpLog writes the tail of ejabberd's log (and the VM's stdout) to the
// test log.
func (s *Server) DumpLog() {
	for _, f := range []string{s.LogFile, filepath.Join(s.Dir, "logs", "erl.stdout")} {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		const max = 32 << 10
		if len(data) > max {
			data = data[len(data)-max:]
		}
		s.t.Logf("ejabberdtest: ---- %s (tail) ----\n%s", filepath.Base(f), data)
	}
}
