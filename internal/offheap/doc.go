// Package offheap holds large transient byte buffers outside the Go heap:
// anonymous private mappings (mmap with MAP_NORESERVE) sized for the
// largest message allowed, of which only the pages written become
// resident. A 25 MB mail held this way costs what arrives, is never
// copied to grow, does not raise the collector's heap goal (so the garbage
// made while it is live is collected at the pace of the small heap), and
// goes back to the kernel at once when freed. The data must not be used
// after Free: the pages are unmapped.
package offheap
