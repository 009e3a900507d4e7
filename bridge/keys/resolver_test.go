package keys

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeSource answers from a map, counting calls; err, if set, wins.
type fakeSource struct {
	name  string
	mu    sync.Mutex
	keys  map[string]*openpgp.Entity
	err   error
	block bool
	calls atomic.Int32
}

func (f *fakeSource) Name() string { return f.name }

func (f *fakeSource) Lookup(ctx context.Context, addr string) (*openpgp.Entity, error) {
	f.calls.Add(1)
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if e := f.keys[addr]; e != nil {
		return e, nil
	}
	return nil, ErrNoKey
}

func (f *fakeSource) set(addr string, e *openpgp.Entity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[addr] = e
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestResolverOrderAndCache(t *testing.T) {
	alice := newKey(t, "", "alice@example.org", nil)
	other := newKey(t, "", "alice@example.org", nil)
	first := &fakeSource{name: "keyring", keys: map[string]*openpgp.Entity{}}
	second := &fakeSource{name: "wkd", keys: map[string]*openpgp.Entity{"alice@example.org": alice}}
	clk := &clock{t: testNow}
	core, logs := observer.New(zapcore.InfoLevel)
	hash := NewInstallSecret().AddressHasher("log-address")
	r := NewResolver(ResolverConfig{Sources: []Source{first, second}, TTL: time.Hour,
		NegativeTTL: time.Minute, Now: clk.now, Log: zap.New(core), HashAddr: hash})
	ctx := context.Background()

	res, err := r.Resolve(ctx, "Alice@Example.org")
	if err != nil || res.Source != "wkd" || res.Fingerprint != FingerprintOf(alice) || res.Changed {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
	if _, err := r.Resolve(ctx, "alice@example.org"); err != nil || second.calls.Load() != 1 {
		t.Errorf("cache miss: %d calls, err %v", second.calls.Load(), err)
	}
	// After the TTL the key changed: logged with the address hashed.
	second.set("alice@example.org", other)
	clk.add(2 * time.Hour)
	res, err = r.Resolve(ctx, "alice@example.org")
	if err != nil || !res.Changed || res.Previous != FingerprintOf(alice) {
		t.Fatalf("changed key: %+v, %v", res, err)
	}
	msgs := logs.FilterMessage("recipient key changed").All()
	if len(msgs) != 1 || msgs[0].ContextMap()["addr"] != hash("alice@example.org") {
		t.Errorf("change log = %v", msgs)
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if f.String == "alice@example.org" {
				t.Errorf("clear address logged: %v", e)
			}
		}
	}
}

func TestResolverNegativeAndTemporary(t *testing.T) {
	src := &fakeSource{name: "wkd", keys: map[string]*openpgp.Entity{}}
	clk := &clock{t: testNow}
	r := NewResolver(ResolverConfig{Sources: []Source{src}, NegativeTTL: time.Minute, Now: clk.now})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "bob@example.org"); !errors.Is(err, ErrNoKey) || IsTemporary(err) {
		t.Fatalf("err = %v, want ErrNoKey", err)
	}
	r.Resolve(ctx, "bob@example.org")
	if src.calls.Load() != 1 {
		t.Errorf("negative answer not cached: %d calls", src.calls.Load())
	}
	if !r.Cached("Bob@example.org") || r.Cached("carol@example.org") {
		t.Errorf("Cached: bob %v (want true), carol %v (want false)", r.Cached("bob@example.org"), r.Cached("carol@example.org"))
	}
	clk.add(2 * time.Minute)
	if r.Cached("bob@example.org") {
		t.Error("Cached after the negative TTL")
	}
	src.err = &TemporaryError{Source: "wkd", Err: errors.New("dns")}
	if _, err := r.Resolve(ctx, "bob@example.org"); !IsTemporary(err) || errors.Is(err, ErrNoKey) {
		t.Fatalf("err = %v, want temporary", err)
	}
	r.Resolve(ctx, "bob@example.org")
	if src.calls.Load() != 3 {
		t.Errorf("temporary failure cached: %d calls", src.calls.Load())
	}
	src.err = errors.New("unclassified")
	if _, err := r.Resolve(ctx, "bob@example.org"); !IsTemporary(err) {
		t.Errorf("unknown error = %v, want temporary", err)
	}
}

func TestResolverUnusableFallsThrough(t *testing.T) {
	revoked := newKey(t, "", "carol@example.org", nil)
	revoked.Revoke(0, "", nil)
	good := newKey(t, "", "carol@example.org", nil)
	a := &fakeSource{name: "keyring", keys: map[string]*openpgp.Entity{"carol@example.org": revoked}}
	b := &fakeSource{name: "wkd", keys: map[string]*openpgp.Entity{}}
	r := NewResolver(ResolverConfig{Sources: []Source{a, b}, Now: func() time.Time { return testNow }})
	_, err := r.Resolve(context.Background(), "carol@example.org")
	if !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrRevoked) {
		t.Fatalf("err = %v, want ErrNoKey and ErrRevoked", err)
	}
	b.set("carol@example.org", good)
	r.Forget("carol@example.org")
	res, err := r.Resolve(context.Background(), "carol@example.org")
	if err != nil || res.Source != "wkd" {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
}

func TestResolverTimeoutAndSingleFlight(t *testing.T) {
	slow := &fakeSource{name: "pep", block: true}
	r := NewResolver(ResolverConfig{Sources: []Source{slow}, LookupTimeout: 50 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Resolve(context.Background(), "dave@example.org")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !IsTemporary(err) {
			t.Errorf("%d: err = %v, want temporary", i, err)
		}
	}
	if n := slow.calls.Load(); n > 2 {
		t.Errorf("%d lookups for one address, want single-flight", n)
	}
}

func TestResolverKeyringWKDChain(t *testing.T) {
	kr, err := OpenKeyring(t.TempDir(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e := newKey(t, "erin@example.org", "", nil)
	if _, err := kr.Import(bytesReader(armored(t, e))); err != nil {
		t.Fatal(err)
	}
	r := NewResolver(ResolverConfig{Sources: []Source{kr, WKD{}}})
	res, err := r.Resolve(context.Background(), "xmpp:erin@example.org")
	if err != nil || res.Source != "keyring" {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
}
