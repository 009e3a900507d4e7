//go:build unix

package offheap

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Map reserves n bytes of anonymous private memory outside the Go heap.
func Map(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("offheap: map %d bytes: %w", n, err)
	}
	return b, nil
}

// Unmap gives a mapping made by Map back to the kernel.
func Unmap(b []byte) error { return unix.Munmap(b) }
