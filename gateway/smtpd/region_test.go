package smtpd

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestDataBufferRead: every size around the chunk and mapping boundaries,
// with and without a declared SIZE, reads back byte-exact, with the trace
// room in front of it in the same array (Prepend copies nothing), and the
// budget is whole again after release.
func TestDataBufferRead(t *testing.T) {
	const max = 3 << 20
	for i, tc := range []struct {
		size     int
		declared bool
	}{
		{0, false}, {100, false}, {dataChunk - 1, false}, {dataChunk, false}, {dataChunk + 1, false},
		{3*dataChunk + 7, false}, {max, false}, {regionMin, true}, {regionMin + 5, true}, {max, true},
		{100, true}, {2 * dataChunk, true},
	} {
		b := NewBudget(16 * DataMemoryFactor * max)
		msg := make([]byte, tc.size)
		rand.Read(msg)
		hint := int64(0)
		if tc.declared {
			hint = int64(tc.size)
		}
		d := dataBuffer{b: b, factor: DataMemoryFactor}
		data, front, err := d.read(bytes.NewReader(msg), hint, max)
		if err != nil {
			t.Fatalf("%d: size %d: %v", i, tc.size, err)
		}
		if !bytes.Equal(data, msg) {
			t.Fatalf("%d: size %d: read back %d other bytes", i, tc.size, len(data))
		}
		env := &Envelope{front: front}
		if got := env.Prepend(data, "A: 1\r\n", "B: 2\r\n"); len(data) > 0 && &got[len(got)-len(data)] != &data[0] {
			t.Errorf("%d: size %d: Prepend copied the message", i, tc.size)
		} else if !bytes.Equal(got, append([]byte("A: 1\r\nB: 2\r\n"), msg...)) {
			t.Errorf("%d: size %d: Prepend gave other bytes", i, tc.size)
		}
		wantMapped := tc.size >= dataChunk // outgrew the first chunk
		if tc.declared {
			wantMapped = tc.size >= regionMin // the first chunk holds the declared size
		}
		if mapped := d.region != nil; mapped != wantMapped {
			t.Errorf("%d: size %d declared %v: mapped = %v", i, tc.size, tc.declared, mapped)
		}
		d.release()
		if b.Used() != 0 || d.region != nil {
			t.Errorf("%d: after release: %d bytes reserved, region %v", i, b.Used(), d.region != nil)
		}
	}
}

// TestDataBufferOverLimit: a reader that goes on past the limit (go-smtp's
// own limit reader stops it first) is refused, not written past the
// mapping.
func TestDataBufferOverLimit(t *testing.T) {
	const max = 200 << 10
	d := dataBuffer{b: NewBudget(1 << 30), factor: 1}
	defer d.release()
	_, _, err := d.read(bytes.NewReader(make([]byte, max+2)), 0, max)
	if !errors.Is(err, smtp.ErrDataTooLarge) {
		t.Fatalf("err = %v, want ErrDataTooLarge", err)
	}
}

// TestConnReadBuffers: a connection reads commands into its own small
// buffer, DATA into a pooled one that goes back once it is in command mode
// with nothing buffered, and moves to the full buffer, content kept, when
// a line outgrows the buffer in hand.
func TestConnReadBuffers(t *testing.T) {
	srv, err := New(Config{Hostname: "mx.example.org", Router: memRouter{}, Sink: &memSink{}})
	if err != nil {
		t.Fatal(err)
	}
	in := &bytes.Buffer{}
	c := &conn{srv: srv, small: make([]byte, smallStore), rw: struct {
		io.Reader
		io.Writer
	}{in, io.Discard}}
	c.store = c.small
	fill := func(s string) {
		t.Helper()
		in.WriteString(s)
		if err := c.fill(false); err != nil {
			t.Fatal(err)
		}
	}
	fill("NOOP\r\n")
	if &c.store[0] != &c.small[0] || c.pooled || string(c.buf) != "NOOP\r\n" {
		t.Fatalf("command mode: store %d pooled %v buf %q", len(c.store), c.pooled, c.buf)
	}
	c.mode = modeData
	fill("Subject: x\r\n")
	if len(c.store) != dataStore || !c.pooled || string(c.buf) != "NOOP\r\nSubject: x\r\n" {
		t.Fatalf("DATA: store %d pooled %v buf %q", len(c.store), c.pooled, c.buf)
	}
	c.mode, c.buf, c.outBuf = modeCommand, c.buf[:0], make([]byte, dataStore)
	fill("QUIT\r\n")
	if &c.store[0] != &c.small[0] || c.pooled || c.outBuf != nil || string(c.buf) != "QUIT\r\n" {
		t.Fatalf("back in command mode: store %d pooled %v outBuf %d buf %q", len(c.store), c.pooled, cap(c.outBuf), c.buf)
	}
	long := strings.Repeat("p", smallStore-100)
	c.buf = c.buf[:0]
	fill(long)
	fill("q\r\n")
	if len(c.store) != srv.fullStore() || string(c.buf) != long+"q\r\n" {
		t.Fatalf("long line: store %d buf of %d bytes", len(c.store), len(c.buf))
	}
}

// TestDataBufferOffHeap is the DATA memory guard (issue 11): a large
// message without a declared SIZE is read outside the Go heap, in place
// (it used to be read in chunks and joined: twice its size on the heap).
func TestDataBufferOffHeap(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 25<<20)
	d := dataBuffer{b: NewBudget(1 << 40), factor: DataMemoryFactor}
	defer d.release()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	data, _, err := d.read(bytes.NewReader(msg), 0, 36<<20)
	runtime.ReadMemStats(&after)
	if err != nil || len(data) != len(msg) {
		t.Fatalf("read %d bytes: %v", len(data), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("reading %d bytes of DATA allocated %d bytes on the heap", len(msg), alloc)
	}
}
