//go:build unix

package smtpd

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mapRegion reserves n bytes of anonymous private memory outside the Go
// heap. Only the pages written become resident, so a region sized for the
// largest message costs what arrives; free gives it back to the kernel at
// once (no garbage for the collector, no heap growth).
func mapRegion(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("smtpd: map %d bytes for DATA: %w", n, err)
	}
	return b, nil
}

func freeRegion(b []byte) error { return unix.Munmap(b) }
