package queue

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkPut measures a durable Put of a 16 KiB message from one
// goroutine: one log append and its own fsync.
func BenchmarkPut(b *testing.B) {
	s, err := NewFileStore(b.TempDir(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		e := testEnvelope("bob@example.net")
		if err := s.Put(context.Background(), e, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutParallel shows how concurrent Puts share one fsync.
func BenchmarkPutParallel(b *testing.B) {
	s, err := NewFileStore(b.TempDir(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := testEnvelope("bob@example.net")
			if err := s.Put(context.Background(), e, bytes.NewReader(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDispatchManyQueued measures the dispatcher's cost per delivery
// while many messages wait for a retry (a long XMPP outage, a slow remote
// MX): queued messages are not due for an hour on a frozen clock, and each
// iteration spools one due message and waits until it is delivered and
// removed. The store is in memory, so fsync does not hide the cost.
// loops/op counts dispatcher iterations per delivery.
func BenchmarkDispatchManyQueued(b *testing.B) {
	for _, queued := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("queued=%d", queued), func(b *testing.B) {
			benchDispatch(b, queued)
		})
	}
}

func benchDispatch(b *testing.B, queued int) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	st := newMemStore()
	for range queued {
		e := testEnvelope("bob@example.net")
		e.Received = now
		e.Recipients[0].Attempts = 1
		e.Recipients[0].NextAttempt = now.Add(time.Hour)
		if err := st.Put(context.Background(), e, strings.NewReader(plainMessage)); err != nil {
			b.Fatal(err)
		}
	}
	st.removed = make(chan string, 1)
	q, err := New(Config{
		Store:   st,
		Targets: map[string]Target{"xmpp": TargetFunc(func(context.Context, *Delivery) error { return nil })},
		Now:     func() time.Time { return now },
		DSN:     DSNConfig{ReportingMTA: "gw.example.org"},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	deliver := func() {
		if err := q.Put(ctx, testEnvelope("bob@example.net"), strings.NewReader(plainMessage)); err != nil {
			b.Fatal(err)
		}
		<-st.removed
	}
	deliver() // Run has loaded the queued messages
	loops := q.loops.Load()
	for b.Loop() {
		deliver()
	}
	b.ReportMetric(float64(q.loops.Load()-loops)/float64(b.N), "loops/op")
}
