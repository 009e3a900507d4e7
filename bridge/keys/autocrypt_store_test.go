package keys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const bob = "bob@remote.example"

func openTestAutocrypt(t testing.TB, dir string, max int) (*AutocryptStore, *observer.ObservedLogs, *[]string) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	var changed []string
	s, err := OpenAutocryptStore(AutocryptConfig{Dir: dir, MaxPeers: max, Log: zap.New(core),
		Now: func() time.Time { return testNow }, Changed: func(a string) { changed = append(changed, a) }})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs, &changed
}

func acHeader(t testing.TB, addr string, e *openpgp.Entity, mutual bool) string {
	t.Helper()
	h, err := AutocryptHeader(addr, e, mutual)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// learnStep is one received message.
type learnStep struct {
	from    string
	date    time.Time
	headers []string
}

func TestAutocryptLearnRules(t *testing.T) {
	k1 := newKey(t, "", bob, nil)
	k2 := newKey(t, "", bob, nil)
	other := newKey(t, "", "eve@evil.example", nil)
	revoked := newKey(t, "", bob, nil)
	if err := revoked.Revoke(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	weak := newKey(t, "", bob, func(c *packet.Config) { c.Algorithm, c.RSABits = packet.PubKeyAlgoRSA, 1024 })
	expired := newKey(t, "", bob, func(c *packet.Config) { c.KeyLifetimeSecs = 60 })
	noEnc := newKey(t, "", bob, nil)
	noEnc.Subkeys = nil
	h1, h2 := acHeader(t, bob, k1, true), acHeader(t, bob, k2, false)
	t1, t2, t0 := testNow.Add(-2*time.Hour), testNow.Add(-time.Hour), testNow.Add(-3*time.Hour)
	tests := []struct {
		name        string
		steps       []learnStep
		wantKey     *openpgp.Entity // nil: no peer state
		wantPrefer  string
		wantSeen    time.Time
		wantStamp   time.Time
		wantLog     string // a log message that must appear
		wantChanged int
	}{
		{name: "first header", steps: []learnStep{{bob, t1, []string{h1}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t1, wantStamp: t1, wantLog: "autocrypt key learned", wantChanged: 1},
		{name: "from is case-insensitive", steps: []learnStep{{"Bob@Remote.EXAMPLE", t1, []string{h1}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t1, wantStamp: t1, wantChanged: 1},
		{name: "newer key replaces", steps: []learnStep{{bob, t1, []string{h1}}, {bob, t2, []string{h2}}},
			wantKey: k2, wantPrefer: "nopreference", wantSeen: t2, wantStamp: t2, wantLog: "autocrypt key changed", wantChanged: 2},
		{name: "older date ignored", steps: []learnStep{{bob, t2, []string{h1}}, {bob, t1, []string{h2}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t2, wantStamp: t2, wantChanged: 1},
		{name: "addr mismatch ignored", steps: []learnStep{{bob, t1, []string{acHeader(t, "eve@evil.example", other, true)}}},
			wantLog: "autocrypt header for another address ignored"},
		{name: "two valid headers: all ignored", steps: []learnStep{{bob, t1, []string{h1, h2}}},
			wantLog: "more than one for the address"},
		{name: "foreign header beside a valid one", steps: []learnStep{{bob, t1, []string{acHeader(t, "eve@evil.example", other, true), h1}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t1, wantStamp: t1, wantChanged: 1},
		{name: "no header from a known peer: last_seen only", steps: []learnStep{{bob, t1, []string{h1}}, {bob, t2, nil}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t2, wantStamp: t1, wantChanged: 1},
		{name: "no header from an unknown peer", steps: []learnStep{{bob, t1, nil}}},
		{name: "invalid header from a known peer: last_seen only", steps: []learnStep{{bob, t1, []string{h1}}, {bob, t2, []string{"addr=" + bob + "; keydata=AAAA"}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t2, wantStamp: t1, wantChanged: 1, wantLog: "invalid autocrypt header ignored"},
		{name: "no date: arrival time", steps: []learnStep{{bob, time.Time{}, []string{h1}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: testNow, wantStamp: testNow, wantChanged: 1},
		{name: "future date capped to now", steps: []learnStep{{bob, testNow.Add(48 * time.Hour), []string{h1}}, {bob, t0, []string{h2}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: testNow, wantStamp: testNow, wantChanged: 1},
		{name: "revoked key refused", steps: []learnStep{{bob, t1, []string{acHeader(t, bob, revoked, true)}}}, wantLog: "autocrypt key refused"},
		{name: "weak RSA refused", steps: []learnStep{{bob, t1, []string{acHeader(t, bob, weak, true)}}}, wantLog: "autocrypt key refused"},
		{name: "expired refused", steps: []learnStep{{bob, t1, []string{acHeader(t, bob, expired, true)}}}, wantLog: "autocrypt key refused"},
		{name: "no encryption subkey refused", steps: []learnStep{{bob, t1, []string{acHeader(t, bob, noEnc, true)}}}, wantLog: "autocrypt key refused"},
		{name: "refused key keeps the old one", steps: []learnStep{{bob, t1, []string{h1}}, {bob, t2, []string{acHeader(t, bob, revoked, true)}}},
			wantKey: k1, wantPrefer: "mutual", wantSeen: t2, wantStamp: t1, wantChanged: 1},
		{name: "too many headers", steps: []learnStep{{bob, t1, []string{h1, "", "", "", "", "", "", "", ""}}}, wantLog: "too many"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, logs, changed := openTestAutocrypt(t, t.TempDir(), 0)
			for _, st := range tc.steps {
				if err := s.Learn(context.Background(), st.from, st.date, st.headers); err != nil {
					t.Fatalf("case %d: Learn: %v", i, err)
				}
			}
			checkPeer(t, s, tc.wantKey, tc.wantPrefer, tc.wantSeen, tc.wantStamp)
			if tc.wantLog != "" && logs.FilterMessageSnippet(tc.wantLog).Len() == 0 {
				t.Errorf("no log %q in %v", tc.wantLog, logs.All())
			}
			if len(*changed) != tc.wantChanged {
				t.Errorf("Changed called %d times, want %d", len(*changed), tc.wantChanged)
			}
			for _, e := range logs.All() { // addresses are hashed
				for _, f := range e.Context {
					if strings.Contains(f.String, "@") {
						t.Errorf("log %q carries an address: %s=%s", e.Message, f.Key, f.String)
					}
				}
			}
		})
	}
}

func checkPeer(t *testing.T, s *AutocryptStore, wantKey *openpgp.Entity, wantPrefer string, wantSeen, wantStamp time.Time) {
	t.Helper()
	p, err := s.Peer(bob)
	if wantKey == nil {
		if !errors.Is(err, ErrNoKey) {
			t.Fatalf("Peer = %+v, %v; want ErrNoKey", p, err)
		}
		if _, err := s.Lookup(context.Background(), bob); !errors.Is(err, ErrNoKey) {
			t.Fatalf("Lookup err = %v, want ErrNoKey", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if FingerprintOf(p.Key) != FingerprintOf(wantKey) || p.PreferEncrypt != wantPrefer ||
		!p.LastSeen.Equal(wantSeen) || !p.AutocryptTimestamp.Equal(wantStamp) {
		t.Errorf("peer = key %s prefer %s seen %v stamp %v; want %s %s %v %v", FingerprintOf(p.Key), p.PreferEncrypt,
			p.LastSeen, p.AutocryptTimestamp, FingerprintOf(wantKey), wantPrefer, wantSeen, wantStamp)
	}
	e, err := s.Lookup(context.Background(), bob)
	if err != nil || FingerprintOf(e) != FingerprintOf(wantKey) {
		t.Errorf("Lookup = %v, %v", e, err)
	}
}

func TestAutocryptPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, "", bob, nil)
	s, _, _ := openTestAutocrypt(t, dir, 0)
	if err := s.Learn(context.Background(), bob, testNow.Add(-time.Hour), []string{acHeader(t, bob, k, true)}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], peerSuffix) || strings.Contains(files[0], "bob") {
		t.Fatalf("files = %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("peer file: %v %v", fi, err)
	}
	s, _, _ = openTestAutocrypt(t, dir, 0)
	e, err := s.Lookup(context.Background(), "<BOB@remote.example>")
	if err != nil || FingerprintOf(e) != FingerprintOf(k) || e.PrivateKey != nil {
		t.Fatalf("after reopen: %v, %v", e, err)
	}
	// A key that expires after it was learned is no longer offered.
	short := newKey(t, "", "carol@remote.example", func(c *packet.Config) { c.KeyLifetimeSecs = 7200 })
	if err := s.Learn(context.Background(), "carol@remote.example", testNow, []string{acHeader(t, "carol@remote.example", short, false)}); err != nil {
		t.Fatal(err)
	}
	later, err := OpenAutocryptStore(AutocryptConfig{Dir: dir, Now: func() time.Time { return testNow.Add(2 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := later.Lookup(context.Background(), "carol@remote.example"); !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrExpired) {
		t.Errorf("expired key: err = %v", err)
	}
}

func TestAutocryptCorruptFileIsNoKey(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := openTestAutocrypt(t, dir, 0)
	if err := os.WriteFile(filepath.Join(dir, peerFileName(bob)), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(context.Background(), bob); !errors.Is(err, ErrNoKey) {
		t.Fatalf("corrupt state: err = %v, want ErrNoKey", err)
	}
	k := newKey(t, "", bob, nil)
	if err := s.Learn(context.Background(), bob, testNow, []string{acHeader(t, bob, k, false)}); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Lookup(context.Background(), bob); err != nil || FingerprintOf(e) != FingerprintOf(k) {
		t.Fatalf("corrupt state not replaced: %v, %v", e, err)
	}
}

func TestAutocryptBoundedCount(t *testing.T) {
	dir := t.TempDir()
	s, logs, _ := openTestAutocrypt(t, dir, 2)
	addrs := []string{"a@remote.example", "b@remote.example", "c@remote.example"}
	for i, a := range addrs {
		k := newKey(t, "", a, nil)
		s.now = func() time.Time { return testNow.Add(time.Duration(i) * time.Second) }
		if err := s.Learn(context.Background(), a, time.Time{}, []string{acHeader(t, a, k, true)}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+peerSuffix))
	if len(files) != 2 || logs.FilterMessageSnippet("evicted").Len() != 1 {
		t.Fatalf("%d files, logs %v", len(files), logs.All())
	}
	if _, err := s.Lookup(context.Background(), addrs[0]); !errors.Is(err, ErrNoKey) {
		t.Errorf("oldest peer kept: %v", err)
	}
	if _, err := s.Lookup(context.Background(), addrs[2]); err != nil {
		t.Errorf("newest peer: %v", err)
	}
}

func TestAutocryptIsASource(t *testing.T) {
	k := newKey(t, "", bob, nil)
	s, _, _ := openTestAutocrypt(t, t.TempDir(), 0)
	if err := s.Learn(context.Background(), bob, testNow, []string{acHeader(t, bob, k, true)}); err != nil {
		t.Fatal(err)
	}
	r := NewResolver(ResolverConfig{Sources: []Source{s}, Now: func() time.Time { return testNow }})
	res, err := r.Resolve(context.Background(), bob)
	if err != nil || res.Source != "autocrypt" || res.Fingerprint != FingerprintOf(k) {
		t.Fatalf("Resolve = %+v, %v", res, err)
	}
	if _, err := r.Resolve(context.Background(), "carol@remote.example"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("unknown peer: %v", err)
	}
}

func FuzzLearn(f *testing.F) {
	k := newKey(f, "", bob, nil)
	h := acHeader(f, bob, k, true)
	f.Add(bob, int64(0), h, "")
	f.Add(bob, testNow.Unix(), h, h)
	f.Add("Bob@Remote.example", testNow.Unix()-10, "addr=bob@remote.example; keydata=AAAA", "_x=1;"+h)
	f.Add("<a@b>", int64(-1), "addr=a@b;;;keydata=", "addr=a@b; prefer-encrypt=mutual; keydata=!!")
	s, _, _ := openTestAutocrypt(f, f.TempDir(), 16)
	f.Fuzz(func(t *testing.T, from string, unix int64, h1, h2 string) {
		var date time.Time
		if unix != 0 {
			date = time.Unix(unix%(1<<40), 0)
		}
		var headers []string
		for _, h := range []string{h1, h2} {
			if h != "" {
				headers = append(headers, h)
			}
		}
		err := s.Learn(context.Background(), from, date, headers)
		if err != nil && !errors.Is(err, ErrInvalidAddress) {
			t.Fatalf("Learn: %v", err)
		}
		if err != nil {
			return
		}
		e, err := s.Lookup(context.Background(), from)
		if err == nil && Usable(e, testNow) != nil {
			t.Fatalf("Lookup returned an unusable key")
		}
		if err != nil && !errors.Is(err, ErrNoKey) {
			t.Fatalf("Lookup: %v", err)
		}
	})
}
