package payload

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

// TestSealExternalStream: the streamed blob is byte-identical to SealBlob's
// for sizes around the block size and for reads of every awkward size, and
// opens with External.Open.
func TestSealExternalStream(t *testing.T) {
	for i, tc := range []struct{ size, read int }{
		{0, 16}, {1, 1}, {15, 7}, {16, 16}, {17, 5}, {31, 3}, {32, 64}, {100, 13},
		{4096, 4096}, {65537, 1000}, {1<<20 + 3, 32 << 10}, {3 << 20, 1 << 20},
	} {
		raw := make([]byte, tc.size)
		rand.Read(raw)
		x, r, size, err := SealExternalStream(raw)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		buf := make([]byte, tc.read)
		for {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		want, err := SealBlob(x.Key, x.IV, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) || size != int64(len(want)) {
			t.Fatalf("%d: size %d, reads of %d: stream differs from SealBlob (%d vs %d bytes, size %d)",
				i, tc.size, tc.read, got.Len(), len(want), size)
		}
		if plain, err := x.Open(got.Bytes()); err != nil || !bytes.Equal(plain, raw) {
			t.Fatalf("%d: Open: %v", i, err)
		}
	}
}

func BenchmarkSealExternalStream(b *testing.B) {
	raw := make([]byte, 25<<20)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		_, r, _, err := SealExternalStream(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
