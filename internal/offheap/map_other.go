//go:build !unix

package offheap

import "errors"

// Map is not available here: callers fall back to the heap.
func Map(int) ([]byte, error) { return nil, errors.New("offheap: no anonymous mappings") }

// Unmap does nothing.
func Unmap([]byte) error { return nil }
