package reverse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/gateway/queue"
)

func originID(id string) string { return "<origin-id xmlns='urn:xmpp:sid:0' id='" + id + "'/>" }

const wantReceipt = "<request xmlns='urn:xmpp:receipts'/>"

func TestDedupKey(t *testing.T) {
	mk := func(from, to, id, origin, body string) *inbound {
		return &inbound{From: jid.MustParse(from), To: jid.MustParse(to), ID: id, OriginID: origin,
			Plain: []byte(body)}
	}
	base := mk("alice@example.org/phone", bobPuppet, "s1", "o1", "x")
	for i, tc := range []struct {
		name     string
		in       *inbound
		wantSame bool
	}{
		{"same origin-id, other stanza id, resource and content", mk("alice@example.org/laptop", bobPuppet, "s2", "o1", "y"), true},
		{"other origin-id", mk("alice@example.org/phone", bobPuppet, "s1", "o2", "x"), false},
		{"other sender", mk("carol@example.org/phone", bobPuppet, "s1", "o1", "x"), false},
		{"other puppet", mk("alice@example.org/phone", `dave\40remote.example@mail.example.org`, "s1", "o1", "x"), false},
		{"no origin-id", mk("alice@example.org/phone", bobPuppet, "s1", "", "x"), false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := tc.in.dedupKey() == base.dedupKey(); got != tc.wantSame {
				t.Errorf("%s: same key = %v, want %v", tc.name, got, tc.wantSame)
			}
		})
	}
	byID := mk("alice@example.org/phone", bobPuppet, "s1", "", "x")
	if k := mk("alice@example.org/tablet", bobPuppet, "s1", "", "x").dedupKey(); k != byID.dedupKey() {
		t.Error("same stanza id and content: keys differ")
	}
	if k := mk("alice@example.org/phone", bobPuppet, "s1", "", "other text").dedupKey(); k == byID.dedupKey() {
		t.Error("a reused stanza id with other content is taken for a copy")
	}
	if k := mk("alice@example.org/phone", bobPuppet, "", "", "x").dedupKey(); k != "" {
		t.Errorf("no id at all: key %q, want none", k)
	}
}

func TestHandleDuplicates(t *testing.T) {
	const alice, bob = "alice@example.org/a", "alice@example.org/b"
	keyedPuppet := `bob\40keyed.example@mail.example.org`
	type msg struct{ from, to, id, children string }
	for i, tc := range []struct {
		name         string
		lim          Limits
		msgs         []msg
		wantSpooled  int
		wantReceipts []string // ids
		wantErrors   int
	}{
		{name: "same origin-id twice", msgs: []msg{
			{alice, bobPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt},
			{bob, bobPuppet, "s2", originID("o1") + "<body>x</body>" + wantReceipt}},
			wantSpooled: 1, wantReceipts: []string{"s1", "s2"}},
		{name: "other origin-id", msgs: []msg{
			{alice, bobPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt},
			{alice, bobPuppet, "s1", originID("o2") + "<body>x</body>" + wantReceipt}},
			wantSpooled: 2, wantReceipts: []string{"s1", "s1"}},
		{name: "same stanza id, no origin-id", msgs: []msg{
			{alice, bobPuppet, "s1", "<body>x</body>" + wantReceipt},
			{alice, bobPuppet, "s1", "<body>x</body>" + wantReceipt}},
			wantSpooled: 1, wantReceipts: []string{"s1", "s1"}},
		{name: "stanza id reused for other text", msgs: []msg{
			{alice, bobPuppet, "s1", "<body>x</body>"},
			{alice, bobPuppet, "s1", "<body>y</body>"}},
			wantSpooled: 2},
		{name: "no id at all", msgs: []msg{
			{alice, bobPuppet, "", "<body>x</body>"},
			{alice, bobPuppet, "", "<body>x</body>"}},
			wantSpooled: 2},
		{name: "duplicate without a receipt request", msgs: []msg{
			{alice, bobPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt},
			{alice, bobPuppet, "s2", originID("o1") + "<body>x</body>"}},
			wantSpooled: 1, wantReceipts: []string{"s1"}},
		{name: "refused message resent is refused again", msgs: []msg{
			{alice, keyedPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt},
			{alice, keyedPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt}},
			wantErrors: 2},
		{name: "duplicates are not charged to the rate", lim: Limits{Burst: 1, RatePerMinute: 0.001}, msgs: []msg{
			{alice, bobPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt},
			{alice, bobPuppet, "s1", originID("o1") + "<body>x</body>" + wantReceipt},
			{alice, bobPuppet, "s3", originID("o3") + "<body>y</body>" + wantReceipt}},
			wantSpooled: 1, wantReceipts: []string{"s1", "s1"}, wantErrors: 1},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f := newFixture(t, tc.lim, nil)
			for _, m := range tc.msgs {
				f.deliver(t, stanzaXML(m.from, m.to, m.id, m.children))
			}
			var receipts []string
			errs := 0
			for _, s := range f.sender.sent {
				if s.Type == "error" {
					errs++
				} else if _, rest, ok := strings.Cut(s.xml, `<received xmlns="urn:xmpp:receipts" id="`); ok {
					receipts = append(receipts, rest[:strings.IndexByte(rest, '"')])
				}
			}
			if len(f.spool.envs) != tc.wantSpooled || fmt.Sprint(receipts) != fmt.Sprint(tc.wantReceipts) || errs != tc.wantErrors {
				t.Fatalf("%s: spooled %d, receipts %v, errors %d; want %d, %v, %d", tc.name,
					len(f.spool.envs), receipts, errs, tc.wantSpooled, tc.wantReceipts, tc.wantErrors)
			}
		})
	}
}

// TestHandleDuplicatesAcrossRestart: the key is in the envelope and in the
// file; a new Reverse on the same file suppresses the copy.
func TestHandleDuplicatesAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool", "dedup.log")
	withFile := func(c *Config) { c.Dedup.File = path }
	raw := stanzaXML("alice@example.org/a", bobPuppet, "s1", originID("o1")+"<body>x</body>"+wantReceipt)
	f := newFixture(t, Limits{}, nil, withFile)
	f.deliver(t, raw)
	if len(f.spool.envs) != 1 {
		t.Fatalf("spooled %d", len(f.spool.envs))
	}
	key := f.spool.envs[0].Recipients[0].Params[ParamDedup]
	if len(key) != 32 {
		t.Fatalf("envelope params %v: no dedup key", f.spool.envs[0].Recipients[0].Params)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f.rv.Run(ctx) // closes the file
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), key+" ") || strings.Contains(string(b), "alice") || strings.Contains(string(b), "o1") {
		t.Fatalf("dedup file = %q, want the key only", b)
	}

	g := newFixture(t, Limits{}, nil, withFile)
	g.deliver(t, raw)
	if len(g.spool.envs) != 0 || !strings.Contains(g.last(t).xml, `id="s1"`) {
		t.Fatalf("after a restart: spooled %d, reply %s", len(g.spool.envs), g.last(t).xml)
	}
}

// blockingSpool holds each Put until release is closed, and fails it if
// fail says so.
type blockingSpool struct {
	fakeSpool
	entered chan struct{}
	release chan struct{}
	fail    []bool // by call
	calls   int
	mu      sync.Mutex
}

func (s *blockingSpool) Put(ctx context.Context, env *queue.Envelope, bodies ...io.Reader) error {
	s.mu.Lock()
	n := s.calls
	s.calls++
	s.mu.Unlock()
	s.entered <- struct{}{}
	<-s.release
	if n < len(s.fail) && s.fail[n] {
		return errors.New("disk on fire")
	}
	return s.fakeSpool.Put(ctx, env, bodies...)
}

// TestDuplicatesInFlight: two copies processed at once; the second waits
// for the first and is suppressed if the first was spooled, delivered if
// it was not.
func TestDuplicatesInFlight(t *testing.T) {
	for i, tc := range []struct {
		name        string
		firstFails  bool
		wantPuts    int
		wantSpooled int
		wantErrors  int
	}{
		{name: "first spooled", wantPuts: 1, wantSpooled: 1},
		{name: "first failed", firstFails: true, wantPuts: 2, wantSpooled: 1, wantErrors: 1},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sp := &blockingSpool{entered: make(chan struct{}, 2), release: make(chan struct{}),
					fail: []bool{tc.firstFails}}
				f := newFixture(t, Limits{}, nil, func(c *Config) { c.Spool = sp })
				var ins []*inbound
				for _, id := range []string{"s1", "s2"} {
					f.handle(t, stanzaXML("alice@example.org/a", bobPuppet, id, originID("o1")+"<body>x</body>"+wantReceipt))
					ins = append(ins, <-f.rv.jobs)
				}
				var wg sync.WaitGroup
				wg.Go(func() { f.rv.safely(t.Context(), ins[0], f.rv.process) })
				<-sp.entered // the first copy is in Put
				wg.Go(func() { f.rv.safely(t.Context(), ins[1], f.rv.process) })
				synctest.Wait() // the second copy waits for the first
				if n := len(f.rv.dedup.pending); n != 1 || len(sp.entered) != 0 {
					t.Fatalf("pending %d, second Put started: %v", n, len(sp.entered) != 0)
				}
				close(sp.release)
				wg.Wait()
				errs := 0
				for _, s := range f.sender.sent {
					if s.Type == "error" {
						errs++
					}
				}
				if sp.calls != tc.wantPuts || len(sp.envs) != tc.wantSpooled || errs != tc.wantErrors ||
					len(f.sender.sent) != 2 || len(f.rv.dedup.pending) != 0 {
					t.Fatalf("%s: %d puts, %d spooled, %d errors, %d replies, %d pending", tc.name,
						sp.calls, len(sp.envs), errs, len(f.sender.sent), len(f.rv.dedup.pending))
				}
			})
		})
	}
}

func TestDedupFile(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		name     string
		max      int
		commits  int    // keys k0, k1, ... committed at t0
		junk     string // written after them, then key k<commits> is committed
		reopenAt time.Duration
		wantSeen []int // keys seen after reopening
		wantGone []int
	}{
		{name: "within the TTL", commits: 3, reopenAt: 23 * time.Hour, wantSeen: []int{0, 1, 2}},
		{name: "expired", commits: 3, reopenAt: 24 * time.Hour, wantGone: []int{0, 1, 2}},
		{name: "torn and junk lines", commits: 2, junk: "garbage\n" + strings.Repeat("z", 5000) + "\nabc",
			reopenAt: time.Hour, wantSeen: []int{0, 1, 2}},
		{name: "bounded", max: 10, commits: 30, reopenAt: time.Hour, wantSeen: []int{29}, wantGone: []int{0}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dedup.log")
			now := t0
			clock := func() time.Time { return now }
			d, err := openDedup(DedupConfig{File: path, Max: tc.max}, clock, nopLog)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.commits {
				if tc.max > 0 { // distinct times, so "oldest first" is well defined
					now = t0.Add(time.Duration(k) * time.Second)
				}
				if err := d.commit(testKey(k)); err != nil {
					t.Fatal(err)
				}
			}
			d.close()
			if tc.junk != "" {
				appendFile(t, path, tc.junk)
				// A key committed after a torn line must survive it.
				if d, err = openDedup(DedupConfig{File: path}, clock, nopLog); err != nil {
					t.Fatal(err)
				}
				d.commit(testKey(tc.commits))
				d.close()
			}
			now = t0.Add(tc.reopenAt)
			d, err = openDedup(DedupConfig{File: path, Max: tc.max}, clock, nopLog)
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			for _, k := range tc.wantSeen {
				if !d.seen(testKey(k)) {
					t.Errorf("%s: key %d not seen", tc.name, k)
				}
			}
			for _, k := range tc.wantGone {
				if d.seen(testKey(k)) {
					t.Errorf("%s: key %d still seen", tc.name, k)
				}
			}
			if tc.max > 0 && len(d.done) > tc.max {
				t.Errorf("%s: %d keys kept, max %d", tc.name, len(d.done), tc.max)
			}
		})
	}
}

func TestDedupCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dedup.log")
	d, err := openDedup(DedupConfig{File: path, Max: 10}, time.Now, nopLog)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	d.slack = 5
	for k := range 100 {
		if err := d.commit(testKey(k)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n > 2*10+5 || !d.seen(testKey(99)) {
		t.Fatalf("%d lines in the file after compaction; last key seen %v", n, d.seen(testKey(99)))
	}
	if !strings.Contains(string(b), testKey(99)+" ") {
		t.Fatal("the last key is not in the file")
	}
}

func testKey(i int) string { return fmt.Sprintf("%032x", i) }

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

var nopLog = zap.NewNop()

// TestDedupSeededFromSpool: a key that reached the spool but not the file
// (a crash between the two fsyncs) still suppresses copies after a restart.
func TestDedupSeededFromSpool(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	d, err := openDedup(DedupConfig{File: filepath.Join(t.TempDir(), "dedup.log"),
		Seed: map[string]time.Time{"k-spooled": now.Add(-time.Hour), "k-old": now.Add(-48 * time.Hour)}}, clock, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if !d.seen("k-spooled") {
		t.Error("a key from the spool does not suppress its copies")
	}
	if d.seen("k-old") {
		t.Error("a key older than the TTL was seeded")
	}
}
