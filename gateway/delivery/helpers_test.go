package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap/zaptest"

	"passerelle/gateway/queue"
)

// fakeResolver answers from maps and records the hosts it was asked for.
type fakeResolver struct {
	mx    map[string][]*net.MX
	mxErr map[string]error
	ips   map[string][]string
	ipErr map[string]error

	mu    sync.Mutex
	asked []string
}

func (r *fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if err := r.mxErr[name]; err != nil {
		return nil, err
	}
	if mx, ok := r.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	r.mu.Unlock()
	if err := r.ipErr[host]; err != nil {
		return nil, err
	}
	ss, ok := r.ips[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ss {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

var errServFail = &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}

// received is one message taken by a testServer.
type received struct {
	from, to, helo, user string
	tls                  bool
	body                 []byte
}

// serverOpts configure a go-smtp test server.
type serverOpts struct {
	addr        string      // listen address; default 127.0.0.1:0
	tls         *tls.Config // offer STARTTLS
	implicitTLS bool        // listen with TLS
	requireAuth bool        // user "u", password "p"
	maxBytes    int64
	rcpt        map[string]*smtp.SMTPError // reply to RCPT by address
	data        *smtp.SMTPError            // reply to the final dot
}

type testServer struct {
	addr string
	port int
	got  chan received
}

// startServer runs a go-smtp server on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{got: make(chan received, 100)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{o: &o, ts: ts, c: c}, nil
	}))
	s.Domain, s.MaxMessageBytes, s.TLSConfig = "mx.test", o.maxBytes, o.tls
	s.EnableDSN, s.EnableSMTPUTF8 = true, true
	s.ErrorLog = log.New(io.Discard, "", 0) // aborted sessions are expected
	if o.addr == "" {
		o.addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	if o.implicitTLS {
		l, err = tls.Listen("tcp", o.addr, o.tls)
	} else {
		l, err = net.Listen("tcp", o.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	ts.addr = l.Addr().String()
	ts.port = l.Addr().(*net.TCPAddr).Port
	return ts
}

func (ts *testServer) next(t testing.TB) received {
	t.Helper()
	select {
	case r := <-ts.got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no message received")
		return received{}
	}
}

type testSession struct {
	o  *serverOpts
	ts *testServer
	c  *smtp.Conn
	r  received
}

func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "u" || pass != "p" {
			return smtp.ErrAuthFailed
		}
		s.r.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.requireAuth && s.r.user == "" {
		return smtp.ErrAuthRequired
	}
	s.r.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := s.o.rcpt[to]; e != nil {
		return e
	}
	s.r.to = to
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.o.data != nil {
		return s.o.data
	}
	s.r.body = b
	_, s.r.tls = s.c.TLSConnectionState()
	s.r.helo = s.c.Hostname()
	s.ts.got <- s.r
	return nil
}

func (s *testSession) Reset()        {}
func (s *testSession) Logout() error { return nil }

// testCert returns a self-signed certificate for mx.test and 127.0.0.1,
// and a pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// newTestTarget returns a Target delivering every domain to 127.0.0.1:port.
func newTestTarget(t testing.TB, port int, edit func(*Config)) *Target {
	t.Helper()
	cfg := Config{
		Hostname: "gw.example.net", Port: port, AllowPrivateAddrs: true,
		Resolver: &fakeResolver{
			mx:  map[string][]*net.MX{"example.org": {{Host: "mx.test.", Pref: 10}}},
			ips: map[string][]string{"mx.test": {"127.0.0.1"}},
		},
		CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second, FinalTimeout: 5 * time.Second,
		Logger: zaptest.NewLogger(t),
	}
	if edit != nil {
		edit(&cfg)
	}
	tg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func msg(to, body string) *Message {
	return &Message{ID: "testid", From: "alice@example.net", To: to, Size: int64(len(body)), Body: strings.NewReader(body)}
}

// wantOutcome checks an error's class and DSN status.
func wantOutcome(t testing.TB, err error, permanent bool, status string) queue.Diagnostic {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want permanent=%v status %s", permanent, status)
	}
	if got := queue.IsPermanent(err); got != permanent {
		t.Errorf("IsPermanent(%v) = %v, want %v", err, got, permanent)
	}
	d, ok := queue.DiagnosticOf(err)
	if !ok {
		t.Fatalf("no diagnostic on %v", err)
	}
	if d.Status != status {
		t.Errorf("status = %q, want %q (%v)", d.Status, status, err)
	}
	return d
}
