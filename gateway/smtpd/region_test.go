package smtpd

import (
	"bytes"
	"crypto/rand"
	"errors"
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
