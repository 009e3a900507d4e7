package ratelimit

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func allowN(k *Keyed, key string, n int) int {
	got := 0
	for range n {
		if k.Allow(key) {
			got++
		}
	}
	return got
}

func TestKeyed(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wait      time.Duration // after using up the burst
		wantFirst int           // allowed out of 100 at once
		wantAfter int           // allowed out of 100 after wait
	}{
		{"burst then nothing", Config{Rate: 1, Burst: 5}, 0, 5, 0},
		{"refill at the rate", Config{Rate: 1, Burst: 5}, 3 * time.Second, 5, 3},
		{"refill capped at burst", Config{Rate: 1, Burst: 5}, time.Hour, 5, 5},
		{"per hour", PerHour(60), time.Minute, 60, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tc.cfg.Now = c.now
			k := New(tc.cfg)
			if got := allowN(k, "a", 100); got != tc.wantFirst {
				t.Fatalf("%d: first: %d allowed, want %d", i, got, tc.wantFirst)
			}
			if got := allowN(k, "b", 1); got != 1 {
				t.Fatalf("%d: another key shares the bucket", i)
			}
			c.add(tc.wait)
			if got := allowN(k, "a", 100); got != tc.wantAfter {
				t.Fatalf("%d: after %v: %d allowed, want %d", i, tc.wait, got, tc.wantAfter)
			}
		})
	}
}

func TestKeyedHasTake(t *testing.T) {
	k := New(Config{Rate: 0, Burst: 1, Now: newClock().now})
	first, second := k.Has("a"), k.Has("a")
	if !first || !second {
		t.Fatal("Has took a token")
	}
	k.Take("a")
	if k.Has("a") || k.Allow("a") {
		t.Fatal("token still there after Take")
	}
}

// TestKeyedBounded: a flood of distinct keys never grows the set past
// MaxKeys.
func TestKeyedBounded(t *testing.T) {
	c := newClock()
	k := New(Config{Rate: 1, Burst: 2, MaxKeys: 100, Now: c.now})
	k.Allow("victim")
	k.Allow("victim")
	for i := range 10000 {
		c.add(time.Millisecond)
		k.Allow(string(rune('a'+i%26)) + time.Duration(i).String())
		if n := k.Len(); n > 100 {
			t.Fatalf("tracking %d keys, want at most 100", n)
		}
	}
}
