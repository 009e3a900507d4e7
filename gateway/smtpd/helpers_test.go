package smtpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memRouter accepts users at the local domains; some local parts trigger
// the typed errors.
type memRouter struct{ domains []string }

// Mail refuses the reverse path forged@… for every user, and lets a
// submission user send only as themselves.
func (r memRouter) Mail(_ context.Context, s *Info, from string) (any, error) {
	if strings.HasPrefix(from, "forged@") || (s.AuthUser != "" && from != "" && from != s.AuthUser) {
		return nil, &Reject{Code: 550, Enhanced: [3]int{5, 7, 1}, Msg: "Sender address not owned by the authenticated user"}
	}
	return "txn:" + from, nil
}

func (r memRouter) Rcpt(_ context.Context, s *Info, from, to string) (any, error) {
	if s.Txn != "txn:"+from {
		return nil, fmt.Errorf("Rcpt saw transaction %v, want the one Mail returned", s.Txn)
	}
	at := strings.LastIndexByte(to, '@')
	local, domain := strings.ToLower(to[:at]), strings.ToLower(to[at+1:])
	isLocal := false
	for _, d := range r.domains {
		isLocal = isLocal || d == domain
	}
	switch {
	case !isLocal:
		return nil, RelayDenied
	case local == "nouser":
		return nil, fmt.Errorf("directory: %q: %w", to, NoSuchUser)
	case local == "limited":
		return nil, RateLimited
	case local == "nokey":
		return nil, EncryptionRequired
	case local == "keytemp":
		return nil, fmt.Errorf("wkd: dial tcp 10.0.0.1:443: %w", KeyLookupTemporary)
	case local == "boom":
		return nil, errors.New("database password=hunter2 at /var/lib/x failed")
	}
	return "route:" + local, nil
}

type message struct {
	env  *Envelope
	data []byte
}

// memSink records messages; err, when set, is returned instead.
type memSink struct {
	mu   sync.Mutex
	msgs []message
	err  error
}

func (s *memSink) Accept(_ context.Context, env *Envelope, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, message{env, append([]byte(nil), data...)})
	return nil
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *memSink) last() message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[len(s.msgs)-1]
}

type memAuth struct{}

func (memAuth) Authenticate(_ context.Context, user, pass string) error {
	if user == "alice@example.org" && pass == "s3cret" {
		return nil
	}
	if user == "down" {
		return AuthTemporary
	}
	return AuthFailed
}

type testEnv struct {
	srv  *Server
	addr string
	sink *memSink
}

// startServer runs a Server on 127.0.0.1:0 in MX mode for the domains
// "local" and "example.org"; mutate adjusts the config.
func startServer(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	sink := &memSink{}
	cfg := Config{
		Hostname: "mx.example.org", Router: memRouter{[]string{"local", "example.org"}}, Sink: sink,
		ReadTimeout: 10 * time.Second, AuthFailureDelay: time.Millisecond, MaxBadCommands: 5,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testEnv{srv: srv, addr: l.Addr().String(), sink: sink}
}

// client is a raw SMTP client: it writes exactly the bytes it is given.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *testEnv) dial(t testing.TB) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, conn: nc, r: bufio.NewReader(nc)}
}

// greeted dials, reads the greeting and says EHLO.
func (e *testEnv) greeted(t testing.TB) *client {
	c := e.dial(t)
	c.expect(220)
	c.cmd("EHLO client.example", 250)
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// read returns the next reply's code and lines; code 0 means EOF.
func (c *client) read() (int, []string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return 0, lines
			}
			c.t.Fatalf("read reply: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			code, _ := strconv.Atoi(line[:min(3, len(line))])
			return code, lines
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func (c *client) expect(code int) string {
	c.t.Helper()
	got, lines := c.read()
	if got != code {
		c.t.Fatalf("want %d, got %d %q", code, got, lines)
	}
	return strings.Join(lines, "\n")
}

func (c *client) cmd(line string, code int) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(code)
}

// closed reports whether the server closes the connection (EOF) after
// any remaining replies.
func (c *client) closed() bool {
	c.t.Helper()
	for range 50 {
		code, _ := c.read()
		if code == 0 {
			return true
		}
	}
	return false
}

// selfSigned returns a server TLS config and a client config trusting it.
func selfSigned(t testing.TB) (*tls.Config, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.org"},
		DNSNames: []string{"mx.example.org"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	srv := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}
	return srv, &tls.Config{RootCAs: pool, ServerName: "mx.example.org"}
}

// startTLS upgrades the client after a 220 reply to STARTTLS.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.cmd("STARTTLS", 220)
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}
