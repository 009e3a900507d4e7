package peerrec_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"passerelle/bridge/peerrec"
	"passerelle/internal/dnstest"
)

const fp = "0123456789abcdef0123456789abcdef01234567"

func record(ttl int) string {
	return "v=passerelle1; jid=mail.b.example; fp=" + fp + "; policy=strict; ttl=" + itoa(ttl)
}

func itoa(n int) string { return strconv.Itoa(n) }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newResolver(t *testing.T, d *dnstest.Server, c *clock) *peerrec.Resolver {
	t.Helper()
	r, err := peerrec.New(peerrec.Config{Server: d.Addr, Timeout: 500 * time.Millisecond,
		NegativeTTL: time.Minute, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLookup(t *testing.T) {
	const name = "_passerelle.b.example"
	cases := []struct {
		name      string
		setup     func(d *dnstest.Server)
		wantFound bool
		wantAD    bool
		wantErr   error
	}{
		{name: "found", setup: func(d *dnstest.Server) { d.SetTXT(name, record(3600)) }, wantFound: true},
		{name: "found with AD", setup: func(d *dnstest.Server) { d.SetTXT(name, record(3600)); d.SetAD(true) }, wantFound: true, wantAD: true},
		{name: "among other TXT records", setup: func(d *dnstest.Server) { d.SetTXT(name, "v=spf1 -all", record(3600), "hello") }, wantFound: true},
		{name: "long record: several character-strings, EDNS0 answer over 512 bytes", setup: func(d *dnstest.Server) {
			d.SetTXT(name, record(3600)+"; x-pad="+strings.Repeat("p", 600))
		}, wantFound: true},
		{name: "forced truncation: TCP retry", setup: func(d *dnstest.Server) { d.SetTXT(name, record(3600)); d.Fail(name, dnstest.Truncate) }, wantFound: true},
		{name: "CNAME to the record", setup: func(d *dnstest.Server) {
			_ = d.Add(name + ". 60 IN CNAME rec.hoster.example.")
			d.SetTXT("rec.hoster.example", record(3600))
		}, wantFound: true},
		{name: "NXDOMAIN", setup: func(d *dnstest.Server) {}},
		{name: "only other TXT", setup: func(d *dnstest.Server) { d.SetTXT(name, "v=spf1 -all") }},
		{name: "NODATA", setup: func(d *dnstest.Server) { d.SetA(name, "127.0.0.9") }},
		{name: "two gateway records", setup: func(d *dnstest.Server) { d.SetTXT(name, record(3600), record(60)) }, wantErr: peerrec.ErrMalformed},
		{name: "malformed", setup: func(d *dnstest.Server) { d.SetTXT(name, "v=passerelle1; jid=mail.b.example") }, wantErr: peerrec.ErrMalformed},
		{name: "SERVFAIL", setup: func(d *dnstest.Server) { d.Fail(name, dnstest.ServFail) }, wantErr: peerrec.ErrTemporary},
		{name: "REFUSED", setup: func(d *dnstest.Server) { d.Fail(name, dnstest.Refused) }, wantErr: peerrec.ErrTemporary},
		{name: "timeout", setup: func(d *dnstest.Server) { d.Fail(name, dnstest.Timeout) }, wantErr: peerrec.ErrTemporary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := dnstest.Start(t)
			tc.setup(d)
			r := newResolver(t, d, &clock{now: time.Unix(1e9, 0)})
			res, err := r.Lookup(context.Background(), "B.example.")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Found != tc.wantFound || res.Authenticated != tc.wantAD {
				t.Fatalf("Found %v AD %v, want %v %v", res.Found, res.Authenticated, tc.wantFound, tc.wantAD)
			}
			if res.Found && (res.Record.JID != "mail.b.example" || res.Record.FingerprintHex() != fp) {
				t.Fatalf("record %+v", res.Record)
			}
		})
	}
}

// TestCache: a positive answer is cached for min(record ttl, DNS TTL), a
// negative or malformed one for NegativeTTL, a temporary failure not at all.
func TestCache(t *testing.T) {
	const name = "_passerelle.b.example"
	ctx := context.Background()
	cases := []struct {
		name     string
		setup    func(d *dnstest.Server)
		wantLife time.Duration // how long the answer is served from cache
	}{
		{"record ttl shorter than DNS TTL", func(d *dnstest.Server) { d.SetTXTTTL(name, 600, record(120)) }, 120 * time.Second},
		{"DNS TTL shorter than record ttl", func(d *dnstest.Server) { d.SetTXTTTL(name, 90, record(3600)) }, 90 * time.Second},
		{"NXDOMAIN: negative TTL", func(d *dnstest.Server) {}, time.Minute},
		{"malformed: negative TTL", func(d *dnstest.Server) { d.SetTXT(name, "v=passerelle1") }, time.Minute},
		{"SERVFAIL: not cached", func(d *dnstest.Server) { d.Fail(name, dnstest.ServFail) }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := dnstest.Start(t)
			tc.setup(d)
			c := &clock{now: time.Unix(1e9, 0)}
			r := newResolver(t, d, c)
			_, _ = r.Lookup(ctx, "b.example")
			if tc.wantLife > 0 {
				c.Advance(tc.wantLife - time.Second)
				_, _ = r.Lookup(ctx, "b.example")
				if n := d.Queries(name, "TXT"); n != 1 {
					t.Fatalf("%d queries within the cache lifetime, want 1", n)
				}
				c.Advance(time.Second)
			}
			_, _ = r.Lookup(ctx, "b.example")
			if n := d.Queries(name, "TXT"); n != 2 {
				t.Fatalf("%d queries after expiry, want 2", n)
			}
		})
	}
}

func TestForget(t *testing.T) {
	d := dnstest.Start(t)
	d.SetTXT("_passerelle.b.example", record(3600))
	r := newResolver(t, d, &clock{now: time.Unix(1e9, 0)})
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	d.Remove("_passerelle.b.example")
	r.Forget("b.example")
	if res, err := r.Lookup(ctx, "b.example"); err != nil || res.Found {
		t.Fatalf("after Forget: %+v %v, want not found", res, err)
	}
}

func TestLookupBadInput(t *testing.T) {
	d := dnstest.Start(t)
	r := newResolver(t, d, &clock{now: time.Unix(1e9, 0)})
	for _, dom := range []string{"", "a..b", strings.Repeat("a", 64) + ".example"} {
		if _, err := r.Lookup(context.Background(), dom); !errors.Is(err, peerrec.ErrMalformed) {
			t.Errorf("Lookup(%q) = %v, want ErrMalformed", dom, err)
		}
	}
	if _, err := peerrec.New(peerrec.Config{Server: "nohost"}); err == nil {
		t.Error("New accepted a server without port")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Lookup(ctx, "b.example"); !errors.Is(err, peerrec.ErrTemporary) {
		t.Errorf("cancelled lookup: %v, want ErrTemporary", err)
	}
}
