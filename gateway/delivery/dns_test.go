package delivery

import (
	"context"
	"net"
	"testing"

	"passerelle/internal/dnstest"
)

// testZone is served by a real authoritative-style server (internal/dnstest),
// so that the net.Resolver error classification (NXDOMAIN, NODATA,
// SERVFAIL) is tested as it happens in production.
var testZone = []string{
	"ok.test. 60 IN MX 10 mx.ok.test.", "ok.test. 60 IN MX 20 mx2.ok.test.",
	"mx.ok.test. 60 IN A 127.0.0.1",
	"mx2.ok.test. 60 IN A 127.0.0.2",
	"implicit.test. 60 IN A 127.0.0.1",
	"null.test. 60 IN MX 0 .",
}

// startDNS serves testZone on 127.0.0.1 and returns a resolver using it.
func startDNS(t *testing.T) *net.Resolver {
	t.Helper()
	s := dnstest.Start(t)
	if err := s.Add(testZone...); err != nil {
		t.Fatal(err)
	}
	s.Fail("fail.test", dnstest.ServFail)
	return s.Resolver()
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
