package keys

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"passerelle/internal/netguard"
)

func TestWKDHash(t *testing.T) {
	// draft-koch-openpgp-webkey-service §3.1 example.
	if got := WKDHash("Joe.Doe"); got != "iy9q119eutrkn8s1mk4r39qejnbu3n5q" {
		t.Errorf("WKDHash(Joe.Doe) = %s", got)
	}
}

func TestWKDURLs(t *testing.T) {
	adv, dir, err := WKDURLs("Joe.Doe@Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	wantAdv := "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
	wantDir := "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
	if adv != wantAdv || dir != wantDir {
		t.Errorf("WKDURLs =\n%s\n%s\nwant\n%s\n%s", adv, dir, wantAdv, wantDir)
	}
	if _, _, err := WKDURLs("no-at-sign"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("invalid address: %v", err)
	}
	if _, _, err := WKDURLs("a/b@example.org"); err == nil {
		t.Error("slash in local part accepted")
	}
}

// wkdServer serves WKD answers by host; every host name resolves to it.
type wkdServer struct {
	mu     sync.Mutex
	byHost map[string]func(http.ResponseWriter, *http.Request)
	hits   []string
	addr   string // host:port of the server
}

func startWKD(t *testing.T, byHost map[string]func(http.ResponseWriter, *http.Request)) (*wkdServer, WKD) {
	ws := &wkdServer{byHost: byHost}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.mu.Lock()
		ws.hits = append(ws.hits, r.Host+r.URL.RequestURI())
		h := ws.byHost[r.Host]
		ws.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	addr := srv.Listener.Addr().String()
	ws.addr = addr
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		// httptest's certificate is for example.com; verify against it.
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}
	return ws, WKD{Client: &http.Client{Transport: tr}, Timeout: 5 * time.Second}
}

func serveKey(b []byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { w.Write(b) }
}

func TestWKDLookup(t *testing.T) {
	joe := newKey(t, "Joe Doe", "Joe.Doe@example.org", nil)
	other := newKey(t, "", "mallory@example.org", nil)
	fail := func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", http.StatusServiceUnavailable) }
	tests := []struct {
		name      string
		hosts     map[string]func(http.ResponseWriter, *http.Request)
		wantErr   error
		wantTemp  bool
		wantFirst string
	}{
		{name: "advanced", hosts: map[string]func(http.ResponseWriter, *http.Request){
			"openpgpkey.example.org": serveKey(armored(t, joe))}},
		{name: "direct after advanced 404", hosts: map[string]func(http.ResponseWriter, *http.Request){
			"example.org": serveKey(armored(t, joe))}},
		{name: "both 404", wantErr: ErrNoKey},
		{name: "key without the address", wantErr: ErrNoKey, hosts: map[string]func(http.ResponseWriter, *http.Request){
			"openpgpkey.example.org": serveKey(armored(t, other))}},
		{name: "server error", wantTemp: true, hosts: map[string]func(http.ResponseWriter, *http.Request){
			"openpgpkey.example.org": fail, "example.org": fail}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, w := startWKD(t, tc.hosts)
			e, err := w.Lookup(context.Background(), "Joe.Doe@example.org")
			switch {
			case tc.wantTemp:
				if !IsTemporary(err) || errors.Is(err, ErrNoKey) {
					t.Errorf("err = %v, want temporary", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) || IsTemporary(err) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil || FingerprintOf(e) != FingerprintOf(joe):
				t.Errorf("Lookup = %v, %v", e, err)
			}
			if len(ws.hits) == 0 || ws.hits[0] != "openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe" {
				t.Errorf("first request %v, want the advanced URL", ws.hits)
			}
		})
	}
}

func TestWKDTimeout(t *testing.T) {
	block := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	_, w := startWKD(t, map[string]func(http.ResponseWriter, *http.Request){
		"openpgpkey.example.org": block, "example.org": block})
	w.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := w.Lookup(context.Background(), "joe@example.org")
	if !IsTemporary(err) {
		t.Errorf("err = %v, want temporary", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("lookup took %v", d)
	}
}

// TestWKDRefusesInternal: the WKD client connects only to public
// addresses and follows only https redirects. A domain whose WKD hosts
// resolve to loopback is not asked at all (with http.DefaultClient it
// was), and a WKD server's redirects to a private address, to plain http
// or in a loop are not followed; each ends as ErrNoKey, not temporary.
func TestWKDRefusesInternal(t *testing.T) {
	t.Run("loopback domain", func(t *testing.T) {
		_, err := WKD{Timeout: 5 * time.Second}.Lookup(context.Background(), "joe@localhost")
		if !errors.Is(err, netguard.ErrRefused) || !errors.Is(err, ErrNoKey) || IsTemporary(err) {
			t.Errorf("Lookup(joe@localhost) = %v, want ErrNoKey wrapping netguard.ErrRefused", err)
		}
	})
	var reached []string
	var mu sync.Mutex
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.URL.Path)
		mu.Unlock()
	}))
	defer inner.Close()
	redirect := func(to string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
	}
	for _, tc := range []struct{ name, to string }{
		{"private", "https://10.0.0.5/key"},
		{"metadata", "https://169.254.169.254/latest/meta-data/"},
		{"plain http", inner.URL + "/key"},
		{"loop", "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, w := startWKD(t, map[string]func(http.ResponseWriter, *http.Request){
				"openpgpkey.example.org": redirect(tc.to), "example.org": redirect(tc.to)})
			// The test server's names resolve to it (127.0.0.1, allowed);
			// every other dial goes through the guard.
			srv := ws.addr
			g := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
			c := NewWKDClient(g)
			tr := c.Transport.(*http.Transport)
			tr.TLSClientConfig = w.Client.Transport.(*http.Transport).TLSClientConfig
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if h, _, _ := net.SplitHostPort(addr); h == "example.org" || h == "openpgpkey.example.org" {
					addr = srv
				}
				return g.Dialer(time.Second).DialContext(ctx, network, addr)
			}
			w.Client = c
			_, err := w.Lookup(context.Background(), "Joe.Doe@example.org")
			if !errors.Is(err, ErrNoKey) || IsTemporary(err) {
				t.Errorf("Lookup = %v, want ErrNoKey", err)
			}
		})
	}
	if len(reached) != 0 {
		t.Errorf("plain-http redirect target reached: %v", reached)
	}
}
