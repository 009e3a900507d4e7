package peertrust

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStoreFaults: a write that fails at any step (create, write, fsync,
// rename, directory fsync) makes Check return an error, never Accept on a
// pin that may not be on disk; the file is the old one or the new one,
// whole; a crash's leftover temporary file is removed at the next open and
// the old content is what a restarted gateway sees.
func TestStoreFaults(t *testing.T) {
	cases := []struct {
		fail       string
		crash      bool // Remove fails too: the temporary stays, as after a crash
		wantNewPin bool // the rename happened: the new pin may be on disk
	}{
		{fail: "create"},
		{fail: "write"},
		{fail: "sync"},
		{fail: "rename"},
		{fail: "rename", crash: true},
		{fail: "sync", crash: true},
		{fail: "syncdir", wantNewPin: true},
	}
	for _, tc := range cases {
		name := tc.fail
		if tc.crash {
			name += " (crash)"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "peers.json")
			ctx := context.Background()
			fs := &faultFS{}
			st, err := OpenStore(path, fs)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := New(Config{Store: st, Now: func() time.Time { return t0 }})
			if d, err := c.Check(ctx, "a.example", rec(fpr(1), time.Hour), false, fpr(1)); err != nil || d.Verdict != Accept {
				t.Fatalf("first pin: %v %v", d, err)
			}
			before := readFile(t, path)

			fs.fail, fs.crash = tc.fail, tc.crash
			d, err := c.Check(ctx, "b.example", rec(fpr(2), time.Hour), false, fpr(2))
			if !errors.Is(err, errInjected) {
				t.Fatalf("Check with a failing %s: %v %v, want the injected error", tc.fail, d, err)
			}
			if got := temps(t, dir); tc.crash != (len(got) > 0) {
				t.Fatalf("temporary files %v (crash %v)", got, tc.crash)
			}
			after := readFile(t, path)
			if !tc.wantNewPin && after != before {
				t.Fatalf("store changed although the write failed before rename:\n%s", after)
			}

			// Restart: a new process opens the store with a working disk.
			st2, err := OpenStore(path, nil)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if got := temps(t, dir); len(got) != 0 {
				t.Fatalf("temporary files left after open: %v", got)
			}
			if _, ok, _ := st2.Get("a.example"); !ok {
				t.Fatal("old pin lost")
			}
			if _, ok, _ := st2.Get("b.example"); ok != tc.wantNewPin {
				t.Fatalf("new pin present %v, want %v", ok, tc.wantNewPin)
			}
			// The same Checker recovers once the disk works again.
			fs.fail, fs.crash = "", false
			if d, err := c.Check(ctx, "b.example", rec(fpr(2), time.Hour), false, fpr(2)); err != nil || d.Verdict != Accept {
				t.Fatalf("after recovery: %v %v", d, err)
			}
		})
	}
}

// TestStoreSharedWithCLI: the gateway's Checker and the CLI's Store are two
// opens of one file (two processes); an accept made through the CLI's
// applies to the gateway's next Check, and the gateway's later writes do
// not undo it.
func TestStoreSharedWithCLI(t *testing.T) {
	e := newEnv(t, TOFU, nil)
	ctx := context.Background()
	e.c.Check(ctx, "b.example", rec(fpr(1), time.Hour), false, fpr(1))
	e.c.Check(ctx, "c.example", rec(fpr(3), time.Hour), false, fpr(3))
	e.clock.Set(t0.Add(time.Minute))
	if d, _ := e.c.Check(ctx, "b.example", rec(fpr(2), time.Hour), false, fpr(2)); d.Verdict != Hold {
		t.Fatalf("%v", d)
	}
	cli, err := OpenStore(e.store.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cli.List()
	if err != nil || len(list) != 2 || list[0].Pending == nil || list[0].Pending.Fingerprint != hexFpr(fpr(2)) {
		t.Fatalf("CLI list: %+v %v", list, err)
	}
	if _, err := cli.Accept(ctx, "b.example", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(3 * time.Minute))
	if d, err := e.c.Check(ctx, "b.example", rec(fpr(2), time.Hour), false, fpr(2)); err != nil || d.Verdict != Accept {
		t.Fatalf("gateway after CLI accept: %v %v", d, err)
	}
	// The gateway writes c.example's sighting; b.example's accept stays.
	e.clock.Set(t0.Add(5 * time.Minute))
	e.c.Check(ctx, "c.example", rec(fpr(3), time.Hour), false, fpr(3))
	if p, _, _ := cli.Get("b.example"); p.Fingerprint != hexFpr(fpr(2)) || p.Source != "accept" || p.Pending != nil {
		t.Fatalf("accept undone: %+v", p)
	}
	if ok, err := cli.Forget(ctx, "c.example"); !ok || err != nil {
		t.Fatalf("forget: %v %v", ok, err)
	}
	if d, _ := e.c.Check(ctx, "c.example", rec(fpr(4), time.Hour), false, fpr(4)); d.Verdict != Accept || d.Reason != "key pinned at first contact" {
		t.Fatalf("gateway after CLI forget: %v", d)
	}
}

func TestAcceptErrors(t *testing.T) {
	e := newEnv(t, TOFU, nil)
	ctx := context.Background()
	if _, err := e.store.Accept(ctx, "b.example", t0); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown: %v", err)
	}
	e.c.Check(ctx, "b.example", rec(fpr(1), time.Hour), false, fpr(1))
	if _, err := e.store.Accept(ctx, "b.example", t0); !errors.Is(err, ErrNoPending) {
		t.Fatalf("no pending: %v", err)
	}
	if ok, err := e.store.Forget(ctx, "nope.example"); ok || err != nil {
		t.Fatalf("forget unknown: %v %v", ok, err)
	}
}

// TestCorruptStore: a damaged file is an error at open and at Check, never
// an empty store (that would silently re-pin every peer at first contact).
func TestCorruptStore(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"peers":[{"domain":"b.exa`,
		"unknown field": `{"version":1,"peers":[],"extra":1}`,
		"version":       `{"version":2,"peers":[]}`,
		"duplicate":     `{"version":1,"peers":[{"domain":"b.example"},{"domain":"b.example"}]}`,
		"bad domain":    `{"version":1,"peers":[{"domain":"B.example"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peers.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenStore(path, nil); err == nil {
				t.Fatal("opened a corrupt store")
			}
		})
	}
	e := newEnv(t, TOFU, nil)
	if err := os.WriteFile(e.store.Path(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Check(context.Background(), "b.example", rec(fpr(1), time.Hour), false, fpr(1)); err == nil {
		t.Fatal("Check accepted with a corrupt store")
	}
}

func TestLockHonoursContext(t *testing.T) {
	e := newEnv(t, TOFU, nil)
	held, err := lockFile(context.Background(), e.store.Path()+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.store.Forget(ctx, "b.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Forget under a held lock: %v", err)
	}
}

// TestNoLostUpdates: two processes (two opens of the file) pinning
// different domains at once lose none of them: every read-modify-write is
// under the file lock.
func TestNoLostUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	const per = 15
	done := make(chan error, 2)
	for p := range 2 {
		st, err := OpenStore(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := New(Config{Store: st, Now: func() time.Time { return t0 }})
		go func() {
			for i := range per {
				dom := string(rune('a'+p)) + "-" + string(rune('a'+i)) + ".example"
				if _, err := c.Check(context.Background(), dom, rec(fpr(1), time.Hour), false, fpr(1)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, _ := OpenStore(path, nil)
	if list, _ := st.List(); len(list) != 2*per {
		t.Fatalf("%d pins, want %d", len(list), 2*per)
	}
}
