package smtpd

import (
	"errors"
	"io"
	"sync"

	"github.com/emersion/go-smtp"

	"passerelle/internal/offheap"
)

// Memory accounting of DATA (finding H4: every DATA is held in memory).
const (
	// DefaultDataMemoryBudget bounds the memory all DATA transactions of a
	// process hold together, when Config.DataBudget is nil.
	DefaultDataMemoryBudget = 512 << 20
	// DataMemoryFactor is what one byte of DATA costs in memory until the
	// Sink returns: the read buffer, the Sink's copy with its trace fields,
	// the parsed MIME, the base64 payload (×4/3), its XML and its
	// encryption. Each byte read reserves this many bytes of the budget.
	// Measured on the forward path (16 concurrent Accepts of a 100 KiB
	// attachment, runtime.MemStats.HeapInuse sampled): 6-7× at GOGC=50,
	// 10-15× at GOGC=100, garbage included; 8 covers the live copies.
	DataMemoryFactor = 8
	dataChunk        = 64 << 10
	// dataHeadroom is left free in front of the DATA buffer for the trace
	// and Authentication-Results fields the Sink prepends (Envelope.Prepend).
	dataHeadroom = 4 << 10
)

// Budget is a process-wide byte semaphore for DATA: every transaction of
// every Server sharing it reserves as it reads, and one that finds the
// budget spent is refused with 452 4.3.1 (its rest is drained, never
// buffered), so many large concurrent messages are deferred, never an OOM.
// It is safe for concurrent use.
type Budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// NewBudget returns a budget of limit bytes (DefaultDataMemoryBudget if
// limit <= 0).
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		limit = DefaultDataMemoryBudget
	}
	return &Budget{limit: limit}
}

// Limit returns the budget's size.
func (b *Budget) Limit() int64 { return b.limit }

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// fits reports whether n bytes are free now (advisory: a MAIL with SIZE is
// refused early when its DATA could not be held, RFC 1870 §6.1).
func (b *Budget) fits(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used+n <= b.limit
}

// tryReserve reserves n bytes if they are free; it never waits.
func (b *Budget) tryReserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *Budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// errNoMemory: the budget is spent; the transaction is refused.
var errNoMemory = errors.New("smtpd: data memory budget exhausted")

// dataBuffer reads DATA in chunks, reserving DataMemoryFactor bytes of b
// per byte before each chunk is allocated. A message that outgrows its
// first chunk continues in one anonymous mapping sized for the largest
// message allowed (internal/offheap): only the pages written become resident, it
// is never copied or joined, and release unmaps it, so a 25 MB mail is held
// once, outside the Go heap. Where no mapping can be made, the chunks are
// joined into one buffer of exactly the size that arrived (no ReadAll
// doubling). release returns the whole reservation; call it once the Sink
// has returned: the data must not be used after that.
type dataBuffer struct {
	b        *Budget
	factor   int64
	reserved int64
	region   []byte // the mapping, if the message needed one
}

// regionMin is the declared SIZE from which DATA goes straight into a
// mapping instead of a heap chunk.
const regionMin = 1 << 20

func (d *dataBuffer) reserve(n int64) bool {
	if !d.b.tryReserve(n * d.factor) {
		return false
	}
	d.reserved += n * d.factor
	return true
}

func (d *dataBuffer) release() {
	d.b.release(d.reserved)
	d.reserved = 0
	if d.region != nil {
		_ = offheap.Unmap(d.region)
		d.region = nil
	}
}

// read reads r to EOF; max is the largest message allowed (0: no limit,
// and no mapping). The first chunk has room for hint bytes (the declared
// SIZE, RFC 1870, plus the terminating read), so the DATA of a client that
// declares its size is read into one buffer, never copied. front is the
// dataHeadroom bytes in front of data, in the same array. On errNoMemory
// the caller refuses the transaction; what was read so far is dropped.
func (d *dataBuffer) read(r io.Reader, hint, max int64) (data, front []byte, err error) {
	if !d.reserve(dataHeadroom) {
		return nil, nil, errNoMemory
	}
	if max > 0 && hint >= regionMin {
		if data, front, ok, err := d.readRegion(r, nil, max); ok {
			return data, front, err
		}
	}
	size := int64(dataChunk)
	if hint > size {
		size = hint + 1 // +1: the read that sees EOF needs room
	}
	if !d.reserve(size) {
		return nil, nil, errNoMemory
	}
	front = make([]byte, dataHeadroom, dataHeadroom+size)
	first := front[dataHeadroom : dataHeadroom+size]
	n, err := io.ReadFull(r, first)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return first[:n], front, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if max > 0 {
		if data, front, ok, err := d.readRegion(r, first, max); ok {
			return data, front, err
		}
	}
	return d.readChunks(r, first)
}

// readRegion reads the rest of r into a mapping after first (already
// read and reserved). ok is false if no mapping could be made.
func (d *dataBuffer) readRegion(r io.Reader, first []byte, max int64) (data, front []byte, ok bool, err error) {
	reg, err := offheap.Map(dataHeadroom + int(max) + 1) // +1: the read that sees EOF
	if err != nil {
		return nil, nil, false, nil
	}
	d.region = reg
	n := dataHeadroom + copy(reg[dataHeadroom:], first)
	for {
		end := min(n+dataChunk, len(reg))
		if end == n {
			return nil, nil, true, smtp.ErrDataTooLarge // go-smtp's limit reader stops before this
		}
		if !d.reserve(int64(end - n)) {
			return nil, nil, true, errNoMemory
		}
		m, err := io.ReadFull(r, reg[n:end])
		n += m
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return reg[dataHeadroom:n:n], reg[:dataHeadroom:n], true, nil
		}
		if err != nil {
			return nil, nil, true, err
		}
	}
}

// readChunks reads the rest of r in heap chunks after first and joins them.
func (d *dataBuffer) readChunks(r io.Reader, first []byte) (data, front []byte, err error) {
	chunks := [][]byte{first}
	total := len(first)
	for {
		if !d.reserve(dataChunk) {
			return nil, nil, errNoMemory
		}
		c := make([]byte, dataChunk)
		n, err := io.ReadFull(r, c)
		chunks = append(chunks, c[:n])
		total += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	// The joined copy is within the factor's allowance (the Sink copies
	// nothing more: Envelope.Prepend), so it reserves nothing more; the
	// chunks become garbage.
	front = make([]byte, dataHeadroom, dataHeadroom+total)
	out := front[dataHeadroom:dataHeadroom]
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, front, nil
}
