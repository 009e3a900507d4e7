package smtpd

import (
	"errors"
	"io"
	"sync"
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
// per byte before each chunk is allocated, then joins the chunks into one
// buffer of exactly the size that arrived (no ReadAll doubling). release
// returns the whole reservation; call it once the Sink has returned.
type dataBuffer struct {
	b        *Budget
	factor   int64
	reserved int64
}

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
}

// read reads r to EOF. The first chunk has room for hint bytes (the
// declared SIZE, RFC 1870, plus the terminating read), so the DATA of a
// client that declares its size is read into one buffer, never copied.
// front is the dataHeadroom bytes in front of data, in the same array. On
// errNoMemory the caller refuses the transaction; the chunks read so far
// are dropped.
func (d *dataBuffer) read(r io.Reader, hint int64) (data, front []byte, err error) {
	var chunks [][]byte
	total := 0
	size := int64(dataChunk)
	if hint > size {
		size = hint + 1 // +1: the read that sees EOF needs room
	}
	if !d.reserve(dataHeadroom) {
		return nil, nil, errNoMemory
	}
	for {
		if !d.reserve(size) {
			return nil, nil, errNoMemory
		}
		var c []byte
		if chunks == nil {
			front = make([]byte, dataHeadroom, dataHeadroom+size)
			c = front[dataHeadroom : dataHeadroom+size]
		} else {
			c = make([]byte, size)
		}
		size = dataChunk
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
	if len(chunks) == 1 {
		return chunks[0], front, nil
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
