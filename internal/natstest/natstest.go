package natstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to accept clients.
const startTimeout = 20 * time.Second

// Server is one nats-server process.
type Server struct {
	t          testing.TB
	Name       string
	Dir        string // store_dir and config live here
	ConfigFile string
	LogFile    string
	ClientURL  string // nats://127.0.0.1:PORT
	clientAddr string
	routeAddr  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a set of servers routed to each other.
type Cluster struct {
	Servers []*Server
}

// URLs returns the client URLs of every server, comma separated as
// nats.Connect takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL
	}
	return strings.Join(urls, ",")
}

// URLList returns the client URLs of every server.
func (c *Cluster) URLList() []string { return strings.Split(c.URLs(), ",") }

// Binary returns the path of nats-server, or fails the test.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("natstest: nats-server not found (install Debian's nats-server package: make deps-cluster): %v", err)
	}
	return p
}

// Start starts one JetStream server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	c := start(t, 1)
	return c.Servers[0]
}

// StartCluster starts n JetStream servers in one cluster (n >= 3 for R3)
// and waits until JetStream has a meta leader.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return start(t, n)
}

func start(t testing.TB, n int) *Cluster {
	t.Helper()
	Binary(t)
	base := t.TempDir()
	c := &Cluster{}
	for i := range n {
		s := &Server{t: t, Name: fmt.Sprintf("n%d", i+1), Dir: filepath.Join(base, fmt.Sprintf("n%d", i+1))}
		s.ConfigFile, s.LogFile = filepath.Join(s.Dir, "nats.conf"), filepath.Join(s.Dir, "nats.log")
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			t.Fatalf("natstest: %v", err)
		}
		c.Servers = append(c.Servers, s)
		t.Cleanup(func() { s.dumpLog() })
		t.Cleanup(func() { _ = s.Stop() })
	}
	// A free port can be taken by another process between the probe and
	// nats-server's bind: then every server gets new ports and starts again.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = c.startOnFreePorts(t); err == nil {
			return c
		}
		for _, s := range c.Servers {
			_ = s.Stop()
		}
		t.Logf("natstest: %v; again on other ports", err)
	}
	t.Fatalf("natstest: %v", err)
	return nil
}

func (c *Cluster) startOnFreePorts(t testing.TB) error {
	for _, s := range c.Servers {
		s.clientAddr, s.routeAddr = freeAddr(t), freeAddr(t)
		s.ClientURL = "nats://" + s.clientAddr
		if err := os.RemoveAll(filepath.Join(s.Dir, "js")); err != nil { // a failed attempt's store
			return err
		}
	}
	for _, s := range c.Servers {
		if err := os.WriteFile(s.ConfigFile, []byte(s.config(c, len(c.Servers) > 1)), 0o644); err != nil {
			return err
		}
	}
	for _, s := range c.Servers {
		if err := s.Start(); err != nil {
			return err
		}
	}
	return nil
}

// config is the server's configuration. Routes name every server, itself
// included (nats-server ignores a route to itself).
func (s *Server) config(c *Cluster, clustered bool) string {
	var b strings.Builder
	host, port, _ := net.SplitHostPort(s.clientAddr)
	fmt.Fprintf(&b, "server_name: %s\nhost: %s\nport: %s\n", s.Name, host, port)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n", filepath.Join(s.Dir, "js"))
	if clustered {
		rhost, rport, _ := net.SplitHostPort(s.routeAddr)
		fmt.Fprintf(&b, "cluster {\n  name: natstest\n  host: %s\n  port: %s\n  routes: [\n", rhost, rport)
		for _, o := range c.Servers {
			if o != s {
				fmt.Fprintf(&b, "    nats-route://%s\n", o.routeAddr)
			}
		}
		b.WriteString("  ]\n}\n")
	}
	return b.String()
}

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts the (stopped) server on its ports and store and waits until
// it accepts clients. It may be called from any goroutine.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("natstest: already running")
	}
	out, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("nats-server", "-c", s.ConfigFile)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start nats-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for !accepts(s.clientAddr) {
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			return fmt.Errorf("nats-server %s exited during start-up (see %s)", s.Name, s.LogFile)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s did not listen on %s within %v", s.Name, s.clientAddr, startTimeout)
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

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd, s.done = nil, nil
}

// Stop terminates the server (SIGTERM, SIGKILL after 5 s). Stopping a
// stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal nats-server %d: %w", cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("nats-server %d ignored SIGTERM; killed", cmd.Process.Pid)
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// dumpLog logs the end of the server's log if the test failed.
func (s *Server) dumpLog() {
	if !s.t.Failed() {
		return
	}
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	s.t.Logf("natstest: end of %s's log:\n%s", s.Name, b)
}

// Pid is the server's process id, 0 when it is not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
