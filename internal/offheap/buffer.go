package offheap

import (
	"errors"
	"io"
)

// ErrFull is returned by Buffer's writes past its capacity.
var ErrFull = errors.New("offheap: buffer full")

// Buffer is an append-only byte buffer of fixed capacity in a mapping, or
// on the heap where no mapping can be made. It is not safe for concurrent
// use.
type Buffer struct {
	mem    []byte
	n      int
	mapped bool
}

// New returns an empty Buffer that holds up to capacity bytes.
func New(capacity int) *Buffer {
	if mem, err := Map(max(capacity, 1)); err == nil {
		return &Buffer{mem: mem[:capacity], mapped: true}
	}
	return &Buffer{mem: make([]byte, 0, capacity)[:capacity]}
}

// Write appends p, or fails with ErrFull (writing nothing) if it does not
// fit.
func (b *Buffer) Write(p []byte) (int, error) {
	if len(p) > len(b.mem)-b.n {
		return 0, ErrFull
	}
	b.n += copy(b.mem[b.n:], p)
	return len(p), nil
}

// ReadFrom appends r to EOF; past the capacity it stops with ErrFull.
func (b *Buffer) ReadFrom(r io.Reader) (int64, error) {
	start := b.n
	for {
		if b.n == len(b.mem) {
			var one [1]byte
			if n, _ := io.ReadFull(r, one[:]); n > 0 {
				return int64(b.n - start), ErrFull
			}
			return int64(b.n - start), nil
		}
		m, err := r.Read(b.mem[b.n:])
		b.n += m
		if err == io.EOF {
			return int64(b.n - start), nil
		}
		if err != nil {
			return int64(b.n - start), err
		}
	}
}

// Bytes returns what was written; it is valid until Free.
func (b *Buffer) Bytes() []byte { return b.mem[:b.n:b.n] }

// Len is the number of bytes written.
func (b *Buffer) Len() int { return b.n }

// Free releases the memory; the Buffer and every slice of it are unusable
// afterwards. Free on nil or twice does nothing.
func (b *Buffer) Free() {
	if b == nil || b.mem == nil {
		return
	}
	if b.mapped {
		_ = Unmap(b.mem[:cap(b.mem)])
	}
	b.mem, b.n = nil, 0
}
