package offheap

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"testing/iotest"
)

func TestBuffer(t *testing.T) {
	for i, tc := range []struct {
		capacity, size int
		wantFull       bool
	}{
		{0, 0, false}, {10, 0, false}, {10, 10, false}, {10, 11, true}, {1 << 20, 3 << 18, false},
		{1 << 20, 1<<20 + 1, true}, {5 << 20, 5 << 20, false},
	} {
		data := make([]byte, tc.size)
		rand.Read(data)
		b := New(tc.capacity)
		_, err := b.ReadFrom(iotest.HalfReader(bytes.NewReader(data)))
		if tc.wantFull != errors.Is(err, ErrFull) || (!tc.wantFull && err != nil) {
			t.Fatalf("%d: ReadFrom: %v, want full %v", i, err, tc.wantFull)
		}
		if !tc.wantFull && !bytes.Equal(b.Bytes(), data) {
			t.Fatalf("%d: read back %d other bytes", i, b.Len())
		}
		b.Free()
		b.Free()
	}
	b := New(8)
	if _, err := b.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("6789")); !errors.Is(err, ErrFull) {
		t.Fatalf("write past the capacity: %v", err)
	}
	if _, err := b.Write([]byte("678")); err != nil || string(b.Bytes()) != "12345678" {
		t.Fatalf("%q %v", b.Bytes(), err)
	}
	b.Free()
}
