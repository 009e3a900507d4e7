package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(2)
	var busy, peak atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			release, err := l.acquire(context.Background(), "example.org")
			if err != nil {
				t.Error(err)
				return
			}
			n := busy.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			busy.Add(-1)
			release()
		})
	}
	// Another destination is not held up.
	release, err := l.acquire(context.Background(), "other.example")
	if err != nil {
		t.Fatal(err)
	}
	release()
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency = %d, want 2", p)
	}
	if n := l.size(); n != 0 {
		t.Errorf("%d slots left after all released", n)
	}
}

func TestLimiterCancel(t *testing.T) {
	l := newLimiter(1)
	release, _ := l.acquire(context.Background(), "d")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, "d"); err == nil {
		t.Fatal("acquired a full slot")
	}
	release()
	if n := l.size(); n != 0 {
		t.Errorf("%d slots left", n)
	}
}
