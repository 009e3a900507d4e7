package queue

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkLifecycle is the spool's whole cost per message as the gateway
// pays it: Put a 4 KiB message, record one delivery attempt (Update) and
// Remove it, from 1 and from 20 goroutines at once (20 parallel SMTP
// sessions and the delivery workers). Run before/after a store change on
// the same machine, back to back, and compare with benchstat.
func BenchmarkLifecycle(b *testing.B) {
	for _, par := range []int{1, 20} {
		b.Run(map[int]string{1: "serial", 20: "parallel20"}[par], func(b *testing.B) {
			s, err := NewFileStore(b.TempDir(), zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			body := bytes.Repeat([]byte("0123456789abcdef"), 256)
			b.SetBytes(int64(len(body)))
			b.SetParallelism((par + 1) / 2) // GOMAXPROCS=2 on the bench machine
			if par == 1 {
				b.SetParallelism(1)
			}
			ctx := context.Background()
			run := func() error {
				e := testEnvelope("bob@example.net")
				if err := s.Put(ctx, e, bytes.NewReader(body)); err != nil {
					return err
				}
				r := cloneRecipients(e.Recipients)
				r[0].State, r[0].Attempts = StateDelivered, 1
				if err := s.Update(ctx, e.ID, r); err != nil {
					return err
				}
				return s.Remove(ctx, e.ID)
			}
			if par == 1 {
				for b.Loop() {
					if err := run(); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := run(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
