package prosodytest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"passerelle/internal/xmpptest"
)

// Options configures a test server. The zero value gives example.org with
// the component mail.example.org, offline storage on and MAM off.
type Options struct {
	Domain          string            // VirtualHost; default "example.org"
	Component       string            // XEP-0114 component; default "mail." + Domain
	Users           map[string]string // localpart -> password, registered before start
	MAM             bool              // load mod_mam (off by default: it slows load tests)
	DisableOffline  bool              // do not load mod_offline
	HTTPFileShare   bool              // add Component "upload."+Domain with http_file_share
	UploadSizeLimit int64             // http_file_share_size_limit; default 64 MiB
	S2S             bool              // enable s2s (with dialback) on a free port (off by default)
	Interface       string            // loopback address every listener binds; default "127.0.0.1"
	S2SPort         int               // with S2S: this s2s port instead of a free one (e.g. 5269)
	DNS             string            // host:port: resolve s2s peers through this server only (lua-unbound)
	Modules         []string          // extra modules_enabled entries
	LogLevel        string            // Prosody log level; default "info"
	ExtraConfig     string            // appended verbatim to the configuration
	GlobalConfig    string            // written verbatim in the global section
}

// Server is a running (or stopped) private Prosody instance.
type Server struct {
	Dir              string
	ConfigFile       string
	LogFile          string
	Domain           string
	Component        string
	ComponentSecret  string
	UploadComponent  string // set when Options.HTTPFileShare
	C2SAddr          string
	C2SDirectTLSAddr string // XEP-0368: TLS from the first byte (what port 5223 or 443 serves)
	ComponentAddr    string
	HTTPAddr         string
	S2SAddr          string // set when Options.S2S
	CertFile         string
	KeyFile          string
	CAFile           string // same as CertFile: the certificate is self-signed
	CertPool         *x509.CertPool
	Interface        string // the address every listener binds

	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

const startTimeout = 15 * time.Second

// Start runs a new Prosody for the test and stops it on t.Cleanup. It fails
// the test, never skips it, when prosody is not installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	for _, bin := range []string{"prosody", "prosodyctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("prosodytest: %s not found in PATH: run `make deps` (scripts/deps.sh) to install Prosody", bin)
		}
	}
	return startServer(t, opts, nil)
}

// startServer is Start with a hook run after the server is set up (ports
// chosen) and before Prosody starts.
func startServer(t testing.TB, opts Options, before func(*Server)) *Server {
	t.Helper()
	s, err := newServer(t, opts)
	if err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.DumpLog()
		}
		if err := s.Stop(); err != nil {
			t.Logf("prosodytest: stop: %v", err)
		}
	})
	for user, pass := range opts.Users {
		if err := s.Register(user, pass); err != nil {
			t.Fatalf("prosodytest: %v", err)
		}
	}
	if before != nil {
		before(s)
	}
	if err := s.start(); err != nil {
		t.Fatalf("prosodytest: %v", err)
	}
	return s
}

func newServer(t testing.TB, opts Options) (*Server, error) {
	if opts.Domain == "" {
		opts.Domain = "example.org"
	}
	if opts.Component == "" {
		opts.Component = "mail." + opts.Domain
	}
	dir := t.TempDir()
	s := &Server{
		t: t, Dir: dir, Domain: opts.Domain, Component: opts.Component,
		ConfigFile: filepath.Join(dir, "prosody.cfg.lua"),
		LogFile:    filepath.Join(dir, "prosody.log"),
		CertFile:   filepath.Join(dir, "cert.pem"),
		KeyFile:    filepath.Join(dir, "key.pem"),
	}
	s.CAFile = s.CertFile
	s.ComponentSecret = randomHex(16)
	if opts.HTTPFileShare {
		s.UploadComponent = "upload." + opts.Domain
	}
	s.Interface = opts.Interface
	if s.Interface == "" {
		s.Interface = "127.0.0.1"
	}
	if ip := net.ParseIP(s.Interface); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("interface %q is not an IPv4 loopback address", s.Interface)
	}
	if err := s.allocatePorts(opts.S2S, opts.S2SPort); err != nil {
		return nil, err
	}
	names := []string{s.Domain, s.Component, "localhost"}
	if s.UploadComponent != "" {
		names = append(names, s.UploadComponent)
	}
	pool, err := xmpptest.WriteCert(s.CertFile, s.KeyFile, names, net.ParseIP(s.Interface))
	if err != nil {
		return nil, err
	}
	s.CertPool = pool
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		return nil, err
	}
	return s, os.WriteFile(s.ConfigFile, []byte(s.config(opts)), 0o640)
}

func (s *Server) allocatePorts(s2s bool, s2sPort int) error {
	addrs := []*string{&s.C2SAddr, &s.C2SDirectTLSAddr, &s.ComponentAddr, &s.HTTPAddr}
	switch {
	case s2s && s2sPort != 0:
		s.S2SAddr = net.JoinHostPort(s.Interface, strconv.Itoa(s2sPort))
	case s2s:
		addrs = append(addrs, &s.S2SAddr)
	}
	// Hold every listener until all are chosen so no two ports coincide.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, a := range addrs {
		l, err := net.Listen("tcp", net.JoinHostPort(s.Interface, "0"))
		if err != nil {
			return fmt.Errorf("pick free port on %s: %w", s.Interface, err)
		}
		ls = append(ls, l)
		*a = l.Addr().String()
	}
	return nil
}

// Register creates (or resets) an account on the VirtualHost. It works
// whether the server is running or not.
func (s *Server) Register(user, password string) error {
	cmd := exec.Command("prosodyctl", "--config", s.ConfigFile, "register", user, s.Domain, password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("prosodyctl register %s: %w: %s", user, err, out)
	}
	return nil
}

// JID returns user@Domain.
func (s *Server) JID(user string) string { return user + "@" + s.Domain }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
