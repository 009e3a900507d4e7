package upload_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/upload"
	"passerelle/internal/netguard"
)

func TestFetch(t *testing.T) {
	blob := bytes.Repeat([]byte("x"), 100)
	u, _, base := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok", "/chunked":
			if r.URL.Path == "/ok" {
				w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
			}
			_, _ = w.Write(blob)
			w.(http.Flusher).Flush()
		case "/redirect-loopback":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/redirect-plain":
			http.Redirect(w, r, "http://example.org/ok", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}, nil)
	tests := []struct {
		path          string
		max           int64
		wantErr       error
		wantTemporary bool
	}{
		{path: "/ok", max: 100},
		{path: "/ok", max: 99, wantErr: upload.ErrTooLarge},      // by Content-Length
		{path: "/chunked", max: 99, wantErr: upload.ErrTooLarge}, // by counting
		{path: "/chunked", max: 1000},
		{path: "/redirect-loopback", max: 100},
		{path: "/redirect-plain", max: 100, wantErr: upload.ErrBadURL},
		{path: "/missing", max: 100, wantErr: upload.ErrHTTP},
	}
	fetchers := map[string]func(url string, max int64) ([]byte, func(), error){
		"Fetch": func(url string, max int64) ([]byte, func(), error) {
			b, err := u.Fetch(context.Background(), url, max)
			return b, func() {}, err
		},
		"FetchBuffer": func(url string, max int64) ([]byte, func(), error) {
			b, err := u.FetchBuffer(context.Background(), url, max)
			if err != nil {
				if b != nil {
					t.Errorf("FetchBuffer returned a buffer with %v", err)
				}
				return nil, func() {}, err
			}
			return b.Bytes(), b.Free, nil
		},
	}
	for name, fetch := range fetchers {
		for i, tc := range tests {
			got, free, err := fetch(base+tc.path, tc.max)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("%s %d %s max %d: err = %v, want %v", name, i, tc.path, tc.max, err, tc.wantErr)
				continue
			}
			if upload.IsTemporary(err) != tc.wantTemporary {
				t.Errorf("%s %d: temporary = %v", name, i, upload.IsTemporary(err))
			}
			if err == nil && !bytes.Equal(got, blob) {
				t.Errorf("%s %d: got %d bytes", name, i, len(got))
			}
			free()
		}
	}
}

// TestFetchRefusesInternal: with the address filter on (the zero Guard,
// or 127.0.0.1 alone allowed for the redirect cases), Fetch does not
// connect to loopback, private, ULA or link-local addresses, by number,
// by a name resolving to loopback, or through a redirect; the refusal is
// permanent and the listening server is never reached.
func TestFetchRefusesInternal(t *testing.T) {
	hits := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
			return
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		hits++
		_, _ = w.Write([]byte("secret"))
	}))
	defer ts.Close()
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	for _, tc := range []struct {
		name  string
		guard netguard.Guard
		url   string
	}{
		{name: "loopback", url: ts.URL + "/x"},
		{name: "name resolving to loopback", url: "http://localhost:" + port + "/x"},
		{name: "private", url: "https://10.0.0.5/x"},
		{name: "ula", url: "https://[fd00::1]/x"},
		{name: "link local", url: "https://169.254.169.254/latest/meta-data/"},
		{name: "mapped", url: "https://[::ffff:127.0.0.1]:" + port + "/x"},
		{name: "redirect to private", guard: loopbackGuard,
			url: ts.URL + "/redirect?to=" + url.QueryEscape("https://10.0.0.5/x")},
		{name: "redirect to other loopback", guard: loopbackGuard,
			url: ts.URL + "/redirect?to=" + url.QueryEscape("http://127.0.0.2:"+port+"/x")},
		{name: "redirect to plain http", guard: loopbackGuard,
			url: ts.URL + "/redirect?to=" + url.QueryEscape("http://example.org/x")},
		{name: "redirect loop", guard: loopbackGuard,
			url: ts.URL + "/loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := upload.New(upload.Config{IQ: &fakeIQ{}, Service: jid.MustParse("upload.example.org"),
				AllowLoopbackHTTP: true, FetchGuard: tc.guard, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = u.Fetch(context.Background(), tc.url, 100)
			if !errors.Is(err, upload.ErrBadURL) || upload.IsTemporary(err) {
				t.Errorf("Fetch: %v (temporary %v), want a permanent ErrBadURL", err, upload.IsTemporary(err))
			}
		})
	}
	if hits != 0 {
		t.Errorf("the server handed out its content %d times", hits)
	}
}

// TestFetchHosts: with FetchHosts set, Fetch goes only to those hosts, and
// a redirect from one of them to another host (here a name for the same
// loopback address) is refused too.
func TestFetchHosts(t *testing.T) {
	u, _, base := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, strings.Replace(r.URL.Query().Get("to"), "HOST", r.Host, 1), http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("blob"))
	}, func(c *upload.Config) { c.FetchHosts = []string{"127.0.0.1", "upload.example.org."} })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, tc := range []struct {
		url     string
		wantErr bool
	}{
		{url: base + "/ok"},
		{url: base + "/redirect?to=" + url.QueryEscape("http://HOST/ok")},
		{url: "http://localhost:" + port + "/ok", wantErr: true},
		{url: base + "/redirect?to=" + url.QueryEscape("http://localhost:"+port+"/ok"), wantErr: true},
	} {
		_, err := u.Fetch(context.Background(), tc.url, 100)
		if tc.wantErr != (err != nil) || (err != nil && (!errors.Is(err, upload.ErrBadURL) || upload.IsTemporary(err))) {
			t.Errorf("Fetch(%s) = %v, want error %v (permanent ErrBadURL)", tc.url, err, tc.wantErr)
		}
	}
}
