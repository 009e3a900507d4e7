package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Failure is an injected fault for one name.
type Failure int

const (
	NoFailure Failure = iota
	ServFail          // answer SERVFAIL (RFC 1035 §4.1.1 RCODE 2)
	Refused           // answer REFUSED (RCODE 5)
	Timeout           // drop the query: the client times out
	Truncate          // over UDP, answer with TC set and no records
)

// DefaultTTL is the TTL of records set by the typed setters.
const DefaultTTL = 60

// Server is a running test DNS server. Its methods are safe for concurrent
// use, also while it serves.
type Server struct {
	Addr string // host:port, UDP and TCP

	mu      sync.Mutex
	rrs     map[string][]dns.RR // canonical owner name -> records
	fail    map[string]Failure
	adAll   bool
	adName  map[string]bool
	queries map[string]int // "name/TYPE" -> count

	udp, tcp *dns.Server
}

// Start runs a server on 127.0.0.1 (a free port, UDP and TCP) until the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen is Start without the testing.TB; the caller calls Close.
func Listen() (*Server, error) {
	s := &Server{
		rrs: map[string][]dns.RR{}, fail: map[string]Failure{},
		adName: map[string]bool{}, queries: map[string]int{},
	}
	pc, l, err := listenPair()
	if err != nil {
		return nil, err
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	s.tcp = &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve)}
	up := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { up <- struct{}{} }
		go srv.ActivateAndServe() //nolint:errcheck // ends with Shutdown
	}
	<-up
	<-up
	return s, nil
}

// listenPair binds UDP and TCP on the same free port of 127.0.0.1.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("no port free for both udp and tcp: %w", lastErr)
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// Resolver returns a Go resolver that asks only this server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr)
	}}
}

func canon(name string) string { return dns.CanonicalName(name) }

func hdr(name string, typ uint16) dns.RR_Header {
	return dns.RR_Header{Name: canon(name), Rrtype: typ, Class: dns.ClassINET, Ttl: DefaultTTL}
}

// Add adds records given as zone-file lines ("a.example. 300 IN A 127.0.0.2").
func (s *Server) Add(lines ...string) error {
	for _, line := range lines {
		rr, err := dns.NewRR(line)
		if err != nil {
			return fmt.Errorf("dnstest: parse %q: %w", line, err)
		}
		if rr == nil {
			return errors.New("dnstest: empty record")
		}
		s.addRR(rr)
	}
	return nil
}

// AddRR adds records as they are.
func (s *Server) AddRR(rrs ...dns.RR) {
	for _, rr := range rrs {
		s.addRR(rr)
	}
}

func (s *Server) addRR(rr dns.RR) {
	rr = dns.Copy(rr)
	rr.Header().Name = canon(rr.Header().Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rrs[rr.Header().Name] = append(s.rrs[rr.Header().Name], rr)
}

// set replaces name's records of rr's type with rrs.
func (s *Server) set(name string, typ uint16, rrs ...dns.RR) {
	name = canon(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := s.rrs[name][:0:0]
	for _, rr := range s.rrs[name] {
		if rr.Header().Rrtype != typ {
			keep = append(keep, rr)
		}
	}
	s.rrs[name] = append(keep, rrs...)
	if len(s.rrs[name]) == 0 {
		delete(s.rrs, name)
	}
}

// SetA replaces name's A records (none: removes them).
func (s *Server) SetA(name string, ips ...string) {
	var rrs []dns.RR
	for _, ip := range ips {
		rrs = append(rrs, &dns.A{Hdr: hdr(name, dns.TypeA), A: net.ParseIP(ip).To4()})
	}
	s.set(name, dns.TypeA, rrs...)
}

// SetSRV replaces name's SRV records with one, priority 0 weight 0
// (RFC 2782), e.g. SetSRV("_xmpp-server._tcp.b.example", "b.example", 5269).
func (s *Server) SetSRV(name, target string, port uint16) {
	s.set(name, dns.TypeSRV, &dns.SRV{Hdr: hdr(name, dns.TypeSRV), Target: canon(target), Port: port})
}

// SetMX replaces name's MX records with one.
func (s *Server) SetMX(name string, pref uint16, host string) {
	s.set(name, dns.TypeMX, &dns.MX{Hdr: hdr(name, dns.TypeMX), Preference: pref, Mx: canon(host)})
}

// SetTLSA replaces name's TLSA records (RFC 6698), e.g. name
// "_25._tcp.mx.example" and data the certificate association, hex.
func (s *Server) SetTLSA(name string, usage, selector, matching uint8, data ...string) {
	var rrs []dns.RR
	for _, d := range data {
		rrs = append(rrs, &dns.TLSA{Hdr: hdr(name, dns.TypeTLSA), Usage: usage, Selector: selector,
			MatchingType: matching, Certificate: d})
	}
	s.set(name, dns.TypeTLSA, rrs...)
}

// SetTXT replaces name's TXT records: one record per value, each value split
// into 255-byte character-strings (RFC 1035 §3.3.14). No values removes them.
func (s *Server) SetTXT(name string, values ...string) {
	s.SetTXTTTL(name, DefaultTTL, values...)
}

// SetTXTTTL is SetTXT with the records' TTL.
func (s *Server) SetTXTTTL(name string, ttl uint32, values ...string) {
	var rrs []dns.RR
	for _, v := range values {
		h := hdr(name, dns.TypeTXT)
		h.Ttl = ttl
		rrs = append(rrs, &dns.TXT{Hdr: h, Txt: Split255(v)})
	}
	s.set(name, dns.TypeTXT, rrs...)
}

// Split255 cuts v into character-strings of at most 255 bytes.
func Split255(v string) []string {
	parts := []string{}
	for len(v) > 255 {
		parts, v = append(parts, v[:255]), v[255:]
	}
	return append(parts, v)
}

// Remove deletes every record of name (it becomes NXDOMAIN).
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rrs, canon(name))
}

// Fail injects f for every query of name; NoFailure clears it.
func (s *Server) Fail(name string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == NoFailure {
		delete(s.fail, canon(name))
		return
	}
	s.fail[canon(name)] = f
}

// SetAD sets the AD bit on every answer (on) or on none, except names
// given to SetADFor.
func (s *Server) SetAD(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adAll = on
}

// SetADFor overrides SetAD for answers about name.
func (s *Server) SetADFor(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adName[canon(name)] = on
}

// Queries returns how many queries of type qtype ("TXT", "SRV", ...) for
// name the server has received, over UDP and TCP.
func (s *Server) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[canon(name)+"/"+strings.ToUpper(qtype)]
}
