package ejabberdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp"

	"passerelle/internal/xmpptest"
)

// Options configures a test server. The zero value gives example.org with
// the component mail.example.org and the upload service
// upload.example.org, from deploy/ejabberd/ejabberd.yml.
type Options struct {
	Domain          string            // the first of hosts; default "example.org"
	Component       string            // XEP-0114 component; default "mail." + Domain
	ExtraHosts      []string          // more VirtualHosts (e.g. "localhost")
	Users           map[string]string // localpart -> password on Domain, registered after start
	DisableOffline  bool              // do not load mod_offline
	OfflineLimit    int               // max_user_offline_messages for everyone; default the deploy file's
	UploadSizeLimit int64             // mod_http_upload max_size; default 64 MiB
	LogLevel        string            // ejabberd loglevel; default "info"
	// BaseConfig is the operator configuration the test one is made from;
	// default DeployConfig().
	BaseConfig string
}

// Server is a running (or stopped) private ejabberd instance.
type Server struct {
	Dir             string
	ConfigFile      string
	LogFile         string
	Domain          string
	Component       string
	ComponentSecret string
	UploadComponent string // mod_http_upload's service: "upload." + Domain
	C2SAddr         string
	ComponentAddr   string
	HTTPAddr        string // plain HTTP: /upload (mod_http_upload) and /api (mod_http_api)
	CertFile        string
	KeyFile         string
	CertPool        *x509.CertPool
	Interface       string // the address every listener binds: 127.0.0.1

	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startTimeout bounds one start: ejabberd 23.01 takes 1-2 s on an idle
// machine, much longer on a loaded 2-core one under -race test load.
const startTimeout = 60 * time.Second

// Start runs a new ejabberd for the test and stops it on t.Cleanup. It
// fails the test, never skips it, when ejabberd is not installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := erlLibs(); err != nil {
		t.Fatalf("ejabberdtest: %v", err)
	}
	if _, err := exec.LookPath("erl"); err != nil {
		t.Fatalf("ejabberdtest: erl not found in PATH: run scripts/deps-ejabberd.sh (make test-ejabberd does)")
	}
	s, err := newServer(t, opts)
	if err != nil {
		t.Fatalf("ejabberdtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.DumpLog()
		}
		s.halt()
	})
	if err := s.start(); err != nil {
		t.Fatalf("ejabberdtest: %v", err)
	}
	for user, pass := range opts.Users {
		if err := s.Register(user, pass); err != nil {
			t.Fatalf("ejabberdtest: %v", err)
		}
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
	if opts.BaseConfig == "" {
		opts.BaseConfig = DeployConfig()
	}
	dir := t.TempDir()
	s := &Server{
		t: t, Dir: dir, Domain: opts.Domain, Component: opts.Component,
		UploadComponent: "upload." + opts.Domain,
		ConfigFile:      filepath.Join(dir, "ejabberd.yml"),
		LogFile:         filepath.Join(dir, "logs", "ejabberd.log"),
		CertFile:        filepath.Join(dir, "cert.pem"),
		KeyFile:         filepath.Join(dir, "key.pem"),
		ComponentSecret: randomHex(16),
		Interface:       "127.0.0.1",
	}
	if err := s.allocatePorts(); err != nil {
		return nil, err
	}
	names := append([]string{s.Domain, s.Component, s.UploadComponent}, opts.ExtraHosts...)
	pool, err := xmpptest.WriteCert(s.CertFile, s.KeyFile, names, net.ParseIP(s.Interface))
	if err != nil {
		return nil, err
	}
	s.CertPool = pool
	for _, d := range []string{"spool", "logs", "upload"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return nil, err
		}
	}
	base, err := readBase(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := s.config(base, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.BaseConfig, err)
	}
	return s, os.WriteFile(s.ConfigFile, cfg, 0o640)
}

func (s *Server) allocatePorts() error {
	// Hold every listener until all are chosen so no two ports coincide.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, a := range []*string{&s.C2SAddr, &s.ComponentAddr, &s.HTTPAddr} {
		l, err := net.Listen("tcp", net.JoinHostPort(s.Interface, "0"))
		if err != nil {
			return fmt.Errorf("pick free port on %s: %w", s.Interface, err)
		}
		ls = append(ls, l)
		*a = l.Addr().String()
	}
	return nil
}

// Register creates an account user@Domain on the running server.
func (s *Server) Register(user, password string) error {
	return s.RegisterOn(user, s.Domain, password)
}

// RegisterOn creates an account user@host (host one of the server's
// hosts) through mod_http_api's register command, as `ejabberdctl
// register` would, without starting a second Erlang node.
func (s *Server) RegisterOn(user, host, password string) error {
	body, err := json.Marshal(map[string]string{"user": user, "host": host, "password": password})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.HTTPAddr+"/api/register", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("register %s@%s: %w", user, host, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("register %s@%s: %s: %s", user, host, resp.Status, msg)
	}
	return nil
}

// JID returns user@Domain.
func (s *Server) JID(user string) string { return user + "@" + s.Domain }

// Client logs user@Domain in over c2s (xmpptest.DialClient) and returns
// the session, closed on t.Cleanup. The caller runs Serve.
func (s *Server) Client(ctx context.Context, t testing.TB, user, password string) *xmpp.Session {
	t.Helper()
	sess, err := s.DialClient(ctx, user, password)
	if err != nil {
		t.Fatalf("ejabberdtest: client %s: %v", user, err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

// DialClient is Client without the testing.TB: the caller closes the
// session.
func (s *Server) DialClient(ctx context.Context, user, password string) (*xmpp.Session, error) {
	return xmpptest.DialClient(ctx, s.C2SAddr, s.Domain, user, password, s.CertPool)
}

// DialComponent logs in as s.Component over XEP-0114. The caller runs
// Serve and closes the session.
func (s *Server) DialComponent(ctx context.Context) (*xmpp.Session, error) {
	return xmpptest.DialComponent(ctx, s.ComponentAddr, s.Component, s.ComponentSecret)
}

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

func (o Options) logLevel() string {
	if o.LogLevel != "" {
		return o.LogLevel
	}
	return "info"
}

func (o Options) uploadLimit() int64 {
	if o.UploadSizeLimit > 0 {
		return o.UploadSizeLimit
	}
	return 64 << 20
}
