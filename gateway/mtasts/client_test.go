package mtasts

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
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"passerelle/gateway/delivery"
	"passerelle/gateway/queue"
	"passerelle/internal/dnstest"
	"passerelle/internal/netguard"
)

// testCA issues certificates for test names, trusted by pool.
func testCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// policyServer serves mta-sts.txt for any mta-sts.* host over TLS.
type policyServer struct {
	mu     sync.Mutex
	body   string
	status int
	ctype  string
	hits   int
	addr   string
}

func (ps *policyServer) set(status int, ctype, body string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.status, ps.ctype, ps.body = status, ctype, body
}

func startPolicyServer(t *testing.T, cert tls.Certificate) *policyServer {
	ps := &policyServer{status: 200, ctype: "text/plain"}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		ps.hits++
		if r.URL.Path == "/elsewhere" { // a redirect's target
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, enforce)
			return
		}
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ps.ctype)
		if ps.status/100 == 3 {
			w.Header().Set("Location", "/elsewhere") // §3.3: not followed
		}
		w.WriteHeader(ps.status)
		io.WriteString(w, ps.body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ps.addr = srv.Listener.Addr().String()
	return ps
}

// fixture: a DNS server, a policy server for mta-sts.bank.test, and a
// client whose HTTPS connections to port 443 go to the policy server
// (through the guard, which allows 127.0.0.1 only).
func newFixture(t *testing.T, now *time.Time) (*dnstest.Server, *policyServer, *Client, tls.Certificate, *x509.CertPool) {
	cert, pool := testCert(t, "mta-sts.bank.test", "mx.bank.test", "mx2.bank.test")
	ps := startPolicyServer(t, cert)
	dns := dnstest.Start(t)
	g := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	c := New(Config{Resolver: dns.Resolver(), Guard: g, RootCAs: pool, Now: func() time.Time { return *now }})
	tr := c.cfg.HTTP.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return g.Dialer(time.Second).DialContext(ctx, network, ps.addr)
	}
	return dns, ps, c, cert, pool
}

const enforce = "version: STSv1\nmode: enforce\nmx: *.bank.test\nmax_age: 86400\n"

func TestLookupAndCache(t *testing.T) {
	now := time.Now()
	dns, ps, c, _, _ := newFixture(t, &now)
	ctx := context.Background()
	if p := c.Lookup(ctx, "bank.test"); p != nil {
		t.Fatalf("no record: %+v", p)
	}
	dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=1;")
	now = now.Add(DefaultNegativeTTL + time.Second)
	ps.set(200, "text/plain; charset=utf-8", enforce)
	if p := c.Lookup(ctx, "bank.test"); p == nil || p.Mode != ModeEnforce || !p.Match("mx.bank.test") {
		t.Fatalf("enforce policy: %+v", p)
	}
	// The policy host goes away: the cached policy holds (same id), and
	// also when the record disappears or the fetch fails (§5.1).
	ps.set(500, "text/plain", "")
	hits := ps.hits
	if p := c.Lookup(ctx, "bank.test"); p == nil || ps.hits != hits {
		t.Fatalf("same id: %+v, %d fetches", p, ps.hits-hits)
	}
	dns.SetTXT("_mta-sts.bank.test")
	if p := c.Lookup(ctx, "bank.test"); p == nil || p.Mode != ModeEnforce {
		t.Fatalf("record removed, policy cached: %+v", p)
	}
	dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=2;")
	if p := c.Lookup(ctx, "bank.test"); p == nil || p.Mode != ModeEnforce {
		t.Fatalf("new id, fetch fails: %+v", p)
	}
	// A new id with a new policy replaces it.
	ps.set(200, "text/plain", "version: STSv1\nmode: testing\nmx: *.bank.test\nmax_age: 60\n")
	dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=3;")
	if p := c.Lookup(ctx, "bank.test"); p == nil || p.Mode != ModeTesting {
		t.Fatalf("new policy: %+v", p)
	}
	// Expired and no record: none.
	dns.SetTXT("_mta-sts.bank.test")
	now = now.Add(2 * time.Minute)
	if p := c.Lookup(ctx, "bank.test"); p != nil {
		t.Fatalf("expired: %+v", p)
	}
}

func TestFetchRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
	}{
		{"not found", 404, "text/plain", enforce},
		{"redirect", 302, "text/plain", ""},
		{"html", 200, "text/html", enforce},
		{"too large", 200, "text/plain", enforce + strings.Repeat("x: y\n", MaxPolicyBytes/5+1)},
		{"invalid", 200, "text/plain", "version: STSv1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			dns, ps, c, _, _ := newFixture(t, &now)
			dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=1;")
			ps.set(tc.status, tc.ctype, tc.body)
			if p := c.Lookup(context.Background(), "bank.test"); p != nil {
				t.Errorf("policy %+v accepted", p)
			}
		})
	}
	t.Run("two records", func(t *testing.T) {
		now := time.Now()
		dns, ps, c, _, _ := newFixture(t, &now)
		dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=1;", "v=STSv1; id=2;")
		ps.set(200, "text/plain", enforce)
		if p := c.Lookup(context.Background(), "bank.test"); p != nil || ps.hits != 0 {
			t.Errorf("policy %+v with two records (%d fetches)", p, ps.hits)
		}
	})
}

// TestDeliveryEnforced runs delivery.Target against a real go-smtp server
// with the MTA-STS client as the dynamic TLS policy: under an enforce
// policy, an MX without STARTTLS (a stripping attacker) and an MX the
// policy does not name get a temporary failure and no mail; a verified
// TLS MX gets it. Under testing, plaintext still goes through.
func TestDeliveryEnforced(t *testing.T) {
	now := time.Now()
	dns, ps, c, cert, pool := newFixture(t, &now)
	tlsMX, gotTLS := startMX(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	plainMX, gotPlain := startMX(t, nil)
	dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=1;")
	dns.SetA("mx.bank.test", "127.0.0.1")
	dns.SetA("evil.example", "127.0.0.1")
	ps.set(200, "text/plain", enforce)
	send := func(mxHost string, port int) error {
		dns.SetMX("bank.test", 10, mxHost)
		tg, err := delivery.New(delivery.Config{Hostname: "gw.example.org", Resolver: dns.Resolver(), Port: port,
			AllowPrivateAddrs: true, RootCAs: pool,
			TLSPolicy: delivery.TLSPolicies{Dynamic: c.TLSPolicy}.Policy})
		if err != nil {
			t.Fatal(err)
		}
		return tg.Send(context.Background(), &delivery.Message{ID: "1", From: "a@example.org", To: "bob@bank.test",
			Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")})
	}
	if err := send("mx.bank.test", tlsMX); err != nil {
		t.Fatalf("enforce, verified TLS: %v", err)
	}
	if !<-gotTLS {
		t.Error("delivered without TLS")
	}
	for _, tc := range []struct {
		name, mx   string
		port       int
		wantStatus string
	}{
		{"no STARTTLS", "mx.bank.test", plainMX, "4.7.10"},
		{"MX not in the policy", "evil.example", tlsMX, "4.7.5"},
	} {
		err := send(tc.mx, tc.port)
		d, _ := queue.DiagnosticOf(err)
		if err == nil || queue.IsPermanent(err) || d.Status != tc.wantStatus {
			t.Errorf("%s: %v (status %q), want temporary %s", tc.name, err, d.Status, tc.wantStatus)
		}
	}
	if len(gotTLS)+len(gotPlain) != 0 {
		t.Fatal("mail delivered against the policy")
	}
	ps.set(200, "text/plain", "version: STSv1\nmode: testing\nmx: *.bank.test\nmax_age: 60\n")
	dns.SetTXT("_mta-sts.bank.test", "v=STSv1; id=2;")
	if err := send("mx.bank.test", plainMX); err != nil {
		t.Fatalf("testing mode, plaintext MX: %v", err)
	}
	<-gotPlain
}

// startMX runs a go-smtp server on 127.0.0.1 (STARTTLS when tc is set);
// each mail received sends whether it came over TLS.
func startMX(t *testing.T, tc *tls.Config) (int, chan bool) {
	got := make(chan bool, 4)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mxSession{c: c, got: got}, nil }))
	s.Domain, s.TLSConfig, s.ErrorLog = "mx.bank.test", tc, log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port, got
}

type mxSession struct {
	c   *smtp.Conn
	got chan<- bool
}

func (s *mxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mxSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	_, tls := s.c.TLSConnectionState()
	s.got <- tls
	return err
}
func (s *mxSession) Reset()        {}
func (s *mxSession) Logout() error { return nil }
