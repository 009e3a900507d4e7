package delivery

import (
	"context"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// testZone answers like a real authoritative server, so that the
// net.Resolver error classification (NXDOMAIN, NODATA, SERVFAIL) is tested
// as it happens in production.
var testZone = map[string][]string{
	"ok.test.":       {"ok.test. 60 IN MX 10 mx.ok.test.", "ok.test. 60 IN MX 20 mx2.ok.test."},
	"mx.ok.test.":    {"mx.ok.test. 60 IN A 127.0.0.1"},
	"mx2.ok.test.":   {"mx2.ok.test. 60 IN A 127.0.0.2"},
	"implicit.test.": {"implicit.test. 60 IN A 127.0.0.1"},
	"null.test.":     {"null.test. 60 IN MX 0 ."},
}

func serveTestZone(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	// Answer as a recursive resolver: without RA (or AA), Go's resolver
	// takes an empty answer for a lame referral, a temporary error.
	m.RecursionAvailable = true
	q := req.Question[0]
	switch rrs, ok := testZone[dns.CanonicalName(q.Name)]; {
	case q.Name == "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case !ok:
		m.Rcode = dns.RcodeNameError
	default:
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err == nil && rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	w.WriteMsg(m)
}

// startDNS serves testZone on 127.0.0.1 and returns a resolver using it.
func startDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(serveTestZone)}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func TestRealDNS(t *testing.T) {
	ts := startServer(t, serverOpts{})
	r := startDNS(t)
	tests := []struct {
		domain        string
		wantOK        bool
		wantPermanent bool
		wantStatus    string
	}{
		{domain: "ok.test", wantOK: true},
		{domain: "implicit.test", wantOK: true},
		{domain: "null.test", wantPermanent: true, wantStatus: "5.1.10"},
		{domain: "nx.test", wantPermanent: true, wantStatus: "5.1.2"},
		{domain: "fail.test", wantStatus: "4.4.3"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			tg := newTestTarget(t, ts.port, func(c *Config) { c.Resolver = r })
			err := tg.Send(context.Background(), msg("bob@"+tt.domain, dotBody))
			if !tt.wantOK {
				wantOutcome(t, err, tt.wantPermanent, tt.wantStatus)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ts.next(t); got.to != "bob@"+tt.domain {
				t.Errorf("delivered to %q", got.to)
			}
		})
	}
}
