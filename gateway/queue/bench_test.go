package queue

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkPut measures a durable Put of a 16 KiB message; it is bound by
// fsync (two files and two directories per message).
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

// BenchmarkPutParallel shows how concurrent Puts share the disk.
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
