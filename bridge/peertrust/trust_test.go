package peertrust

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// step is one Check at a point in time, or an operator action.
type step struct {
	at       time.Duration // since t0
	fp       byte          // record's (and served) fingerprint byte
	served   byte          // 0: same as fp
	ttl      time.Duration // record ttl; 0: one hour
	ad       bool
	accept   bool // run store.Accept instead of Check
	forget   bool // run store.Forget instead of Check
	want     Verdict
	wantWhy  string // substring of Reason
	wantPin  byte   // store's pinned fingerprint after the step; 0: no check
	wantPend bool   // a pending change is stored after the step
}

func TestCheck(t *testing.T) {
	h := time.Hour
	cases := []struct {
		name  string
		def   Mode
		doms  map[string]Domain
		steps []step
	}{
		{"served key differs from record", TOFU, nil, []step{
			{fp: 1, served: 2, want: Refuse, wantWhy: "is not the one in the _passerelle record"},
		}},
		{"tofu: first contact pins, same key accepted", TOFU, nil, []step{
			{fp: 1, want: Accept, wantWhy: "first contact", wantPin: 1},
			{at: 10 * time.Minute, fp: 1, want: Accept, wantWhy: "matches the pin", wantPin: 1},
		}},
		{"tofu: change before lifetime held, accept takes it", TOFU, nil, []step{
			{fp: 1, want: Accept, wantPin: 1},
			{at: 30 * time.Minute, fp: 2, want: Hold, wantWhy: "before the pinned record's lifetime ended", wantPin: 1, wantPend: true},
			{at: 31 * time.Minute, fp: 2, want: Hold, wantWhy: "peers accept b.example", wantPin: 1, wantPend: true},
			{at: 32 * time.Minute, fp: 1, want: Accept, wantPin: 1, wantPend: true},
			{at: 33 * time.Minute, accept: true, wantPin: 2},
			{at: 34 * time.Minute, fp: 2, want: Accept, wantPin: 2},
			{at: 35 * time.Minute, fp: 1, want: Hold, wantPin: 2, wantPend: true},
		}},
		{"tofu: change after lifetime re-pinned", TOFU, nil, []step{
			{fp: 1, want: Accept, wantPin: 1},
			{at: h, fp: 2, want: Accept, wantWhy: "after the pinned record's lifetime ended", wantPin: 2},
		}},
		{"tofu: each sighting extends the lifetime", TOFU, nil, []step{
			{fp: 1, want: Accept},
			{at: 50 * time.Minute, fp: 1, want: Accept},
			{at: 70 * time.Minute, fp: 2, want: Hold, wantPend: true},
		}},
		{"tofu: a lowered ttl does not shorten the promise", TOFU, nil, []step{
			{fp: 1, ttl: 10 * h, want: Accept},
			{at: 5 * time.Minute, fp: 1, ttl: time.Minute, want: Accept},
			{at: 2 * h, fp: 2, ttl: time.Minute, want: Hold, wantPend: true},
			{at: 10*h + time.Minute, fp: 2, ttl: time.Minute, want: Accept, wantPin: 2},
		}},
		{"tofu: forget makes the next contact a first one", TOFU, nil, []step{
			{fp: 1, want: Accept},
			{at: time.Minute, fp: 2, want: Hold, wantPend: true},
			{at: 2 * time.Minute, forget: true},
			{at: 3 * time.Minute, fp: 2, want: Accept, wantWhy: "first contact", wantPin: 2},
		}},
		{"tofu: AD does not override a hold", TOFU, nil, []step{
			{fp: 1, want: Accept},
			{at: time.Minute, fp: 2, ad: true, want: Hold, wantPend: true},
		}},
		{"dnssec: no AD refused", DNSSEC, nil, []step{
			{fp: 1, want: Refuse, wantWhy: "not DNSSEC-validated"},
		}},
		{"dnssec: AD accepted and a signed change followed", DNSSEC, nil, []step{
			{fp: 1, ad: true, want: Accept, wantPin: 1},
			{at: time.Minute, fp: 2, ad: true, want: Accept, wantPin: 2},
		}},
		{"pinned beats DNSSEC and TOFU", DNSSEC, map[string]Domain{"B.example": {Mode: Pinned, Fingerprint: fpr(7)}}, []step{
			{fp: 1, ad: true, want: Refuse, wantWhy: "not the key 0707"},
			{fp: 7, want: Accept, wantWhy: "pinned in the configuration"},
			{fp: 7, served: 8, want: Refuse, wantWhy: "is not the one in the _passerelle record"},
		}},
		{"per-domain tofu under a dnssec default", DNSSEC, map[string]Domain{"b.example": {Mode: TOFU}}, []step{
			{fp: 1, want: Accept, wantWhy: "first contact"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.def, tc.doms)
			ctx := context.Background()
			for i, s := range tc.steps {
				e.clock.Set(t0.Add(s.at))
				switch {
				case s.accept:
					if _, err := e.store.Accept(ctx, "b.example", e.clock.Now()); err != nil {
						t.Fatalf("step %d: accept: %v", i, err)
					}
				case s.forget:
					if ok, err := e.store.Forget(ctx, "b.example"); err != nil || !ok {
						t.Fatalf("step %d: forget: %v %v", i, ok, err)
					}
				default:
					ttl := s.ttl
					if ttl == 0 {
						ttl = h
					}
					served := s.served
					if served == 0 {
						served = s.fp
					}
					d, err := e.c.Check(ctx, "b.example", rec(fpr(s.fp), ttl), s.ad, fpr(served))
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if d.Verdict != s.want || !strings.Contains(d.Reason, s.wantWhy) {
						t.Fatalf("step %d: %v %q, want %v containing %q", i, d.Verdict, d.Reason, s.want, s.wantWhy)
					}
				}
				p, ok, err := e.store.Get("b.example")
				if err != nil {
					t.Fatal(err)
				}
				if s.wantPin != 0 && (!ok || p.Fingerprint != hexFpr(fpr(s.wantPin))) {
					t.Fatalf("step %d: pin %q, want %x", i, p.Fingerprint, fpr(s.wantPin))
				}
				if got := ok && p.Pending != nil; got != s.wantPend {
					t.Fatalf("step %d: pending %v, want %v (%+v)", i, got, s.wantPend, p.Pending)
				}
			}
		})
	}
}

// TestHoldAlertsOnce: a held key change logs one alert however many
// messages are held, and the store says why.
func TestHoldAlertsOnce(t *testing.T) {
	e := newEnv(t, TOFU, nil)
	ctx := context.Background()
	e.c.Check(ctx, "b.example", rec(fpr(1), time.Hour), false, fpr(1))
	for i := range 5 {
		e.clock.Set(t0.Add(time.Duration(i+1) * 2 * time.Minute))
		if d, _ := e.c.Check(ctx, "b.example", rec(fpr(2), time.Hour), false, fpr(2)); d.Verdict != Hold {
			t.Fatalf("check %d: %v", i, d.Verdict)
		}
	}
	if n := e.logs.FilterMessageSnippet("ALERT").Len(); n != 1 {
		t.Fatalf("%d alerts, want 1", n)
	}
	p, _, _ := e.store.Get("b.example")
	if p.Pending == nil || p.Pending.FirstSeen != t0.Add(2*time.Minute) || p.Pending.LastSeen != t0.Add(10*time.Minute) ||
		!strings.Contains(p.Pending.Reason, "passerelle peers accept b.example") {
		t.Fatalf("pending %+v", p.Pending)
	}
}

// TestCheckNoWriteWhenUnchanged: an unchanged pin seen again within a
// minute is not rewritten (no fsync per message).
func TestCheckNoWriteWhenUnchanged(t *testing.T) {
	e := newEnv(t, TOFU, nil)
	ctx := context.Background()
	e.c.Check(ctx, "b.example", rec(fpr(1), time.Hour), false, fpr(1))
	before := readFile(t, e.store.Path())
	e.clock.Set(t0.Add(30 * time.Second))
	e.c.Check(ctx, "b.example", rec(fpr(1), time.Hour), false, fpr(1))
	if readFile(t, e.store.Path()) != before {
		t.Fatal("store rewritten for an unchanged sighting")
	}
	e.clock.Set(t0.Add(2 * time.Minute))
	e.c.Check(ctx, "b.example", rec(fpr(1), time.Hour), false, fpr(1))
	if readFile(t, e.store.Path()) == before {
		t.Fatal("store not updated after a minute")
	}
}

// TestConcurrentFirstContact: many checks at once pin once and all accept.
func TestConcurrentFirstContact(t *testing.T) {
	e := newEnv(t, TOFU, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := e.c.Check(context.Background(), "b.example", rec(fpr(1), time.Hour), false, fpr(1))
			if err == nil && d.Verdict != Accept {
				err = errors.New(d.Reason)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.logs.FilterMessageSnippet("first contact").Len(); n != 1 {
		t.Fatalf("pinned %d times", n)
	}
}

func TestNewRejects(t *testing.T) {
	st, err := OpenStore(t.TempDir()+"/p.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no store":            {},
		"pinned default":      {Store: st, Default: Pinned},
		"unknown default":     {Store: st, Default: "trustme"},
		"pinned without fpr":  {Store: st, Domains: map[string]Domain{"b.example": {Mode: Pinned}}},
		"fpr on tofu":         {Store: st, Domains: map[string]Domain{"b.example": {Mode: TOFU, Fingerprint: fpr(1)}}},
		"short pinned fpr":    {Store: st, Domains: map[string]Domain{"b.example": {Mode: Pinned, Fingerprint: []byte{1, 2}}}},
		"unknown domain mode": {Store: st, Domains: map[string]Domain{"b.example": {Mode: "x"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
