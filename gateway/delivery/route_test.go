package delivery

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestRouteFailures(t *testing.T) {
	tests := []struct {
		name          string
		r             *fakeResolver
		private       bool
		wantPermanent bool
		wantStatus    string
	}{
		{name: "null MX", r: &fakeResolver{mx: map[string][]*net.MX{"example.org": {{Host: ".", Pref: 0}}}},
			wantPermanent: true, wantStatus: "5.1.10"},
		{name: "no such domain", r: &fakeResolver{},
			wantPermanent: true, wantStatus: "5.1.2"},
		{name: "MX servfail", r: &fakeResolver{mxErr: map[string]error{"example.org": errServFail}},
			wantStatus: "4.4.3"},
		{name: "implicit MX servfail", r: &fakeResolver{ipErr: map[string]error{"example.org": errServFail}},
			wantStatus: "4.4.3"},
		{name: "MX host not found", r: &fakeResolver{mx: map[string][]*net.MX{"example.org": {{Host: "gone.test.", Pref: 5}}}},
			wantPermanent: true, wantStatus: "5.4.4"},
		{name: "one MX temporary, one not found", r: &fakeResolver{
			mx:    map[string][]*net.MX{"example.org": {{Host: "a.test", Pref: 5}, {Host: "b.test", Pref: 10}}},
			ipErr: map[string]error{"a.test": errServFail}},
			wantStatus: "4.4.3"},
		{name: "private address refused", private: true, r: &fakeResolver{
			mx:  map[string][]*net.MX{"example.org": {{Host: "mx.test", Pref: 5}}},
			ips: map[string][]string{"mx.test": {"127.0.0.1", "10.1.2.3", "fe80::1"}}},
			wantPermanent: true, wantStatus: "5.4.4"},
		{name: "address literal", r: &fakeResolver{}, wantPermanent: true, wantStatus: "5.1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTestTarget(t, 1, func(c *Config) { c.Resolver, c.AllowPrivateAddrs = tt.r, !tt.private })
			to := "bob@example.org"
			if tt.name == "address literal" {
				to = "bob@[192.0.2.1]"
			}
			err := tg.Send(context.Background(), msg(to, dotBody))
			wantOutcome(t, err, tt.wantPermanent, tt.wantStatus)
		})
	}
}

// twoHosts serves example.org from a.test (127.0.0.2, preference 10) and
// b.test (127.0.0.1, preference 20) on the same port.
func twoHosts() *fakeResolver {
	return &fakeResolver{
		mx:  map[string][]*net.MX{"example.org": {{Host: "b.test.", Pref: 20}, {Host: "a.test.", Pref: 10}}},
		ips: map[string][]string{"a.test": {"127.0.0.2"}, "b.test": {"127.0.0.1"}},
	}
}

func TestMXFailover(t *testing.T) {
	b := startServer(t, serverOpts{})
	r := twoHosts()
	tg := newTestTarget(t, b.port, func(c *Config) { c.Resolver = r })
	// Nothing listens on 127.0.0.2: a.test refuses, b.test takes it.
	if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
	b.next(t)
	if want := []string{"a.test", "b.test"}; !slices.Equal(r.asked, want) {
		t.Errorf("hosts tried = %v, want %v", r.asked, want)
	}
}

func TestMXFailoverOn421(t *testing.T) {
	b := startServer(t, serverOpts{})
	l, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(b.port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("421 4.3.2 busy\r\n"))
			c.Close()
		}
	}()
	tg := newTestTarget(t, b.port, func(c *Config) { c.Resolver = twoHosts() })
	if err := tg.Send(context.Background(), msg("bob@example.org", dotBody)); err != nil {
		t.Fatal(err)
	}
	b.next(t)
}

func TestRcptRejectionIsFinal(t *testing.T) {
	b := startServer(t, serverOpts{})
	startServer(t, serverOpts{addr: "127.0.0.2:" + strconv.Itoa(b.port), rcpt: map[string]*smtp.SMTPError{
		"bob@example.org": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
	}})
	tg := newTestTarget(t, b.port, func(c *Config) { c.Resolver = twoHosts() })
	err := tg.Send(context.Background(), msg("bob@example.org", dotBody))
	wantOutcome(t, err, true, "5.1.1")
	select {
	case <-b.got:
		t.Error("second MX tried after a 5xx to RCPT")
	default:
	}
}

// TestHostAddrsFilter: MX host addresses from DNS go through the one
// egress filter (internal/netguard): loopback, private, CGNAT, link-local,
// ULA and IPv4-mapped loopback are dropped unless AllowPrivateAddrs.
func TestHostAddrsFilter(t *testing.T) {
	ips := []string{"127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "fd00::1", "::ffff:127.0.0.1",
		"0.0.0.0", "8.8.8.8", "2a00:1450::1"}
	var addrs []net.IPAddr
	for _, s := range ips {
		addrs = append(addrs, net.IPAddr{IP: net.ParseIP(s)})
	}
	res := fakeAddrs{addrs: addrs}
	for _, tc := range []struct {
		allow bool
		want  int
	}{{false, 2}, {true, len(ips)}} {
		tg := &Target{cfg: Config{Resolver: res, AllowPrivateAddrs: tc.allow}}
		got, err := tg.hostAddrs(context.Background(), "mx.example", false)
		if err != nil || len(got) != tc.want {
			t.Errorf("allow %v: hostAddrs = %v, %v; want %d addresses", tc.allow, got, err, tc.want)
		}
	}
}

type fakeAddrs struct{ addrs []net.IPAddr }

func (f fakeAddrs) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, nil }
func (f fakeAddrs) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return f.addrs, nil
}

func TestRecipientDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bob@Example.ORG", "example.org"}, {"bob@bücher.example", "xn--bcher-kva.example"}, {"a@b@c.example", "c.example"},
	}
	for _, tt := range tests {
		got, err := recipientDomain(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("recipientDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"bob", "bob@", "bob@[1.2.3.4]"} {
		if _, err := recipientDomain(bad); err == nil {
			t.Errorf("recipientDomain(%q) succeeded", bad)
		}
	}
}
