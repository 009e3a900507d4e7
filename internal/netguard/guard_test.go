package netguard_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"passerelle/internal/netguard"
)

func TestPublic(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", false}, {"198.51.100.7", false}, {"203.0.113.9", false},
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"2001:4860:4860::8888", true}, {"2a01:4f8::1", true},
		{"0.0.0.0", false}, {"0.1.2.3", false}, {"127.0.0.1", false}, {"127.9.9.9", false},
		{"10.0.0.5", false}, {"172.16.0.1", false}, {"172.31.255.255", false}, {"172.32.0.1", true},
		{"192.168.1.1", false}, {"100.64.0.1", false}, {"100.127.255.254", false}, {"100.128.0.1", true},
		{"169.254.169.254", false}, {"192.0.0.8", false}, {"198.18.0.1", false}, {"224.0.0.1", false},
		{"239.255.255.250", false}, {"240.0.0.1", false}, {"255.255.255.255", false},
		{"::", false}, {"::1", false}, {"::127.0.0.1", false}, {"fd00::1", false}, {"fc00::1", false},
		{"fe80::1", false}, {"fe80::1%eth0", false}, {"fec0::1", false}, {"ff02::1", false},
		{"2001:db8::1", false}, {"2001::1", false}, {"100::1", false}, {"64:ff9b:1::1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"::ffff:8.8.8.8", true},
		{"64:ff9b::a00:1", false}, {"64:ff9b::7f00:1", false}, {"64:ff9b::808:808", true},
		{"2002:a00:1::1", false}, {"2002:7f00:1::", false}, {"2002:808:808::1", true},
	}
	for i, tc := range tests {
		if got := netguard.Public(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%d: Public(%s) = %v, want %v", i, tc.addr, got, tc.want)
		}
	}
}

func TestCheckAllow(t *testing.T) {
	g := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"10.1.3.1", false}, {"127.0.0.1", false}, {"8.8.8.8", true},
	}
	for i, tc := range tests {
		err := g.Check(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.want || (err != nil && !errors.Is(err, netguard.ErrRefused)) {
			t.Errorf("%d: Check(%s) = %v, want allowed %v", i, tc.addr, err, tc.want)
		}
	}
	all := netguard.Guard{Allow: netguard.AllowAll()}
	for _, a := range []string{"127.0.0.1", "fd00::1", "::1", "169.254.169.254"} {
		if err := all.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("AllowAll: Check(%s) = %v", a, err)
		}
	}
}

// TestDialRefused dials a listening loopback port: the zero Guard refuses
// it before connecting, by number and by a name resolving to it.
func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var g netguard.Guard
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := g.Dialer(time.Second).DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
		if err == nil {
			c.Close()
			t.Errorf("dial %s: connected", host)
		} else if !errors.Is(err, netguard.ErrRefused) {
			t.Errorf("dial %s: %v, want ErrRefused", host, err)
		}
	}
	allowed := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	c, err := allowed.Dialer(time.Second).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
}

// TestHTTPClient fetches from a TLS server on 127.0.0.1 that the guard
// allows (127.0.0.1/32 only) and follows its redirects: to elsewhere on
// loopback, to private and ULA addresses, to a name resolving to
// loopback, to plain http and in a loop. All but the plain fetch fail,
// none reaches a second server.
func TestHTTPClient(t *testing.T) {
	var reached []string
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = append(reached, r.URL.Path)
	}))
	defer other.Close()
	_, otherPort, _ := net.SplitHostPort(other.Listener.Addr().String())
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.Redirect(w, r, strings.TrimPrefix(r.URL.Path, "/to/"), http.StatusFound)
		}
	}))
	defer srv.Close()
	g := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	c := g.HTTPClient(netguard.HTTPConfig{TLS: &tls.Config{InsecureSkipVerify: true}, Timeout: 5 * time.Second})
	tests := []struct {
		path    string
		wantErr error
	}{
		{path: "/ok"},
		{path: "/to/https://127.0.0.2:" + otherPort + "/a", wantErr: netguard.ErrRefused},
		{path: "/to/https://10.0.0.5/c", wantErr: netguard.ErrRefused},
		{path: "/to/https://[fd00::1]/d", wantErr: netguard.ErrRefused},
		{path: "/to/https://169.254.169.254/e", wantErr: netguard.ErrRefused},
		{path: "/to/http://127.0.0.1:" + otherPort + "/f", wantErr: netguard.ErrURL},
		{path: "/loop", wantErr: netguard.ErrURL},
	}
	for i, tc := range tests {
		resp, err := c.Get(srv.URL + tc.path)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
			t.Errorf("%d %s: err = %v, want %v", i, tc.path, err, tc.wantErr)
		}
	}
	if len(reached) != 0 {
		t.Errorf("the second server was reached: %v", reached)
	}
	// A name resolving to loopback, with nothing allowed.
	u, _ := url.Parse(srv.URL)
	zero := netguard.Guard{}.HTTPClient(netguard.HTTPConfig{TLS: &tls.Config{InsecureSkipVerify: true}})
	if resp, err := zero.Get("https://localhost:" + u.Port() + "/ok"); !errors.Is(err, netguard.ErrRefused) {
		if err == nil {
			resp.Body.Close()
		}
		t.Errorf("localhost with the zero Guard: %v, want ErrRefused", err)
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://upload.example.org/x", true}, {"http://upload.example.org/x", false},
		{"https://u:p@upload.example.org/x", false}, {"https:///x", false}, {"ftp://example.org/", false},
	} {
		u, _ := url.Parse(tc.url)
		if err := netguard.CheckURL(u); (err == nil) != tc.want {
			t.Errorf("CheckURL(%s) = %v, want ok %v", tc.url, err, tc.want)
		}
	}
}
