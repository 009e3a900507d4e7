package dnstest_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"passerelle/internal/dnstest"
)

func query(t *testing.T, s *dnstest.Server, network, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 300 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, s.Addr)
	return r, err
}

func TestAnswers(t *testing.T) {
	s := dnstest.Start(t)
	s.SetA("B.example", "127.0.0.3")
	s.SetSRV("_xmpp-server._tcp.b.example", "b.example", 5269)
	s.SetMX("b.example", 10, "mx.b.example")
	s.SetTXT("_passerelle.b.example", "v=passerelle1; "+strings.Repeat("x", 300))
	if err := s.Add("c.example. 300 IN A 127.0.0.4"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantN     int
	}{
		{"A case-insensitive", "b.EXAMPLE", dns.TypeA, dns.RcodeSuccess, 1},
		{"SRV", "_xmpp-server._tcp.b.example", dns.TypeSRV, dns.RcodeSuccess, 1},
		{"MX", "b.example", dns.TypeMX, dns.RcodeSuccess, 1},
		{"TXT", "_passerelle.b.example", dns.TypeTXT, dns.RcodeSuccess, 1},
		{"zone line", "c.example", dns.TypeA, dns.RcodeSuccess, 1},
		{"NODATA", "b.example", dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"NXDOMAIN", "nope.example", dns.TypeA, dns.RcodeNameError, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				r, err := query(t, s, network, tc.qname, tc.qtype)
				if err != nil {
					t.Fatalf("%s: %v", network, err)
				}
				if r.Rcode != tc.wantRcode || len(r.Answer) != tc.wantN {
					t.Fatalf("%s: rcode %d, %d answers; want %d, %d", network, r.Rcode, len(r.Answer), tc.wantRcode, tc.wantN)
				}
				if r.AuthenticatedData {
					t.Fatalf("%s: AD set without SetAD", network)
				}
			}
		})
	}
	r, _ := query(t, s, "udp", "_passerelle.b.example", dns.TypeTXT)
	if got := strings.Join(r.Answer[0].(*dns.TXT).Txt, ""); len(got) != len("v=passerelle1; ")+300 || len(r.Answer[0].(*dns.TXT).Txt) != 2 {
		t.Fatalf("TXT not split into character-strings: %q", r.Answer[0].(*dns.TXT).Txt)
	}
	if n := s.Queries("_passerelle.b.example", "txt"); n != 3 {
		t.Fatalf("Queries = %d, want 3", n)
	}
	s.SetA("b.example")
	if r, _ := query(t, s, "udp", "b.example", dns.TypeA); len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after SetA with no address: %v", r)
	}
	s.Remove("b.example")
	if r, _ := query(t, s, "udp", "b.example", dns.TypeMX); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after Remove: rcode %d", r.Rcode)
	}
}

func TestADAndFailures(t *testing.T) {
	s := dnstest.Start(t)
	s.SetA("a.example", "127.0.0.2")
	s.SetA("b.example", "127.0.0.3")
	s.SetAD(true)
	s.SetADFor("b.example", false)
	if r, _ := query(t, s, "udp", "a.example", dns.TypeA); !r.AuthenticatedData {
		t.Fatal("AD not set after SetAD(true)")
	}
	if r, _ := query(t, s, "udp", "b.example", dns.TypeA); r.AuthenticatedData {
		t.Fatal("AD set despite SetADFor(false)")
	}

	s.Fail("a.example", dnstest.ServFail)
	if r, _ := query(t, s, "udp", "a.example", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %d, want SERVFAIL", r.Rcode)
	}
	s.Fail("a.example", dnstest.Refused)
	if r, _ := query(t, s, "udp", "a.example", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Fatalf("rcode %d, want REFUSED", r.Rcode)
	}
	s.Fail("a.example", dnstest.Timeout)
	var ne net.Error
	if _, err := query(t, s, "udp", "a.example", dns.TypeA); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}
	s.Fail("a.example", dnstest.Truncate)
	if r, _ := query(t, s, "udp", "a.example", dns.TypeA); !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("udp: TC %v with %d answers, want TC and none", r.Truncated, len(r.Answer))
	}
	if r, _ := query(t, s, "tcp", "a.example", dns.TypeA); r.Truncated || len(r.Answer) != 1 {
		t.Fatalf("tcp: TC %v with %d answers, want the answer", r.Truncated, len(r.Answer))
	}
	s.Fail("a.example", dnstest.NoFailure)
	if r, _ := query(t, s, "udp", "a.example", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("after NoFailure: %v", r)
	}
}

// TestOversizeTruncated: a UDP answer over 512 bytes (no EDNS0) comes back
// with TC, as from a real server, and whole over TCP.
func TestOversizeTruncated(t *testing.T) {
	s := dnstest.Start(t)
	s.SetTXT("big.example", strings.Repeat("a", 400), strings.Repeat("b", 400))
	r, err := query(t, s, "udp", "big.example", dns.TypeTXT)
	if err != nil || !r.Truncated {
		t.Fatalf("udp: %v, TC %v; want TC", err, r != nil && r.Truncated)
	}
	r, err = query(t, s, "tcp", "big.example", dns.TypeTXT)
	if err != nil || r.Truncated || len(r.Answer) != 2 {
		t.Fatalf("tcp: %v %v", err, r)
	}
}

func TestResolver(t *testing.T) {
	s := dnstest.Start(t)
	s.SetSRV("_xmpp-server._tcp.b.example", "b.example", 5270)
	s.SetA("b.example", "127.0.0.3")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, srvs, err := s.Resolver().LookupSRV(ctx, "xmpp-server", "tcp", "b.example")
	if err != nil || len(srvs) != 1 || srvs[0].Port != 5270 || srvs[0].Target != "b.example." {
		t.Fatalf("LookupSRV: %v %v", srvs, err)
	}
	ips, err := s.Resolver().LookupHost(ctx, "b.example")
	if err != nil || len(ips) != 1 || ips[0] != "127.0.0.3" {
		t.Fatalf("LookupHost: %v %v", ips, err)
	}
}
