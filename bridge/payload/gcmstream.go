package payload

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// maxStreamPlaintext keeps the CTR counter of a stream within GCM's 32-bit
// block counter: cipher.NewCTR carries into the IV where GCM wraps, which
// only differs after 2^32-2 blocks (64 GiB).
const maxStreamPlaintext = (1<<32 - 2) * 16

// SealExternalStream is SealExternal without the blob in memory: it
// returns the External for raw, a reader that makes the blob (AES-256-GCM
// ciphertext, then the tag; byte-identical to SealBlob) as it is read, and
// the blob's size. raw must not change until the reader is drained.
func SealExternalStream(raw []byte) (*External, io.Reader, int64, error) {
	if int64(len(raw)) > maxStreamPlaintext {
		return nil, nil, 0, errors.New("payload: mail too large for one GCM stream")
	}
	x := &External{Size: int64(len(raw)), SHA256: sha256.Sum256(raw)}
	rand.Read(x.Key[:])
	rand.Read(x.IV[:])
	r, err := newSealReader(x.Key, x.IV, raw)
	if err != nil {
		return nil, nil, 0, err
	}
	return x, r, int64(len(raw)) + TagSize, nil
}

// sealReader encrypts src in GCM's counter mode as it is read, hashing
// the ciphertext with GHASH (NIST SP 800-38D §7.1, no additional data),
// and ends with the tag.
type sealReader struct {
	src  []byte
	ctr  cipher.Stream
	g    ghash
	n    uint64 // octets of ciphertext hashed
	mask [16]byte
	tag  []byte // the tag still to read, once src is done
	done bool
}

func newSealReader(key [KeySize]byte, iv [IVSize]byte, src []byte) (*sealReader, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	var h, j0 [16]byte
	block.Encrypt(h[:], h[:])
	copy(j0[:], iv[:])
	j0[15] = 1
	r := &sealReader{src: src, g: newGHASH(h)}
	block.Encrypt(r.mask[:], j0[:]) // E(K, J0) masks the tag
	j0[15] = 2                      // the first counter block is inc32(J0)
	r.ctr = cipher.NewCTR(block, j0[:])
	return r, nil
}

func (r *sealReader) Read(p []byte) (int, error) {
	if len(r.src) > 0 {
		n := min(len(p), len(r.src))
		r.ctr.XORKeyStream(p[:n], r.src[:n])
		r.g.write(p[:n])
		r.src = r.src[n:]
		r.n += uint64(n)
		return n, nil
	}
	if !r.done {
		r.done = true
		var lens [16]byte
		binary.BigEndian.PutUint64(lens[8:], r.n*8) // len(A) = 0, len(C) in bits
		s := r.g.sum(lens)
		for i := range s {
			s[i] ^= r.mask[i]
		}
		r.tag = s[:]
	}
	if len(r.tag) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.tag)
	r.tag = r.tag[n:]
	return n, nil
}

// ghash is GCM's GHASH over a stream: whole 16-octet blocks as they come,
// the last one zero-padded. It is the 4-bit-table algorithm of Go's
// generic crypto/internal/fips140/aes/gcm (BSD licence, The Go Authors),
// variable-time: used only for the upload blob, whose key is fresh per
// mail and whose plaintext the gateway already holds.
type ghash struct {
	table [16]fieldElement
	y     fieldElement
	buf   [16]byte
	nbuf  int
}

// fieldElement is an element of GF(2^128) in GCM's bit order.
type fieldElement struct{ low, high uint64 }

func newGHASH(h [16]byte) ghash {
	var g ghash
	x := fieldElement{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	g.table[reverseBits(1)] = x
	for i := 2; i < 16; i += 2 {
		g.table[reverseBits(i)] = fieldDouble(g.table[reverseBits(i/2)])
		d := g.table[reverseBits(i)]
		g.table[reverseBits(i+1)] = fieldElement{d.low ^ x.low, d.high ^ x.high}
	}
	return g
}

func (g *ghash) write(p []byte) {
	if g.nbuf > 0 {
		n := copy(g.buf[g.nbuf:], p)
		g.nbuf += n
		p = p[n:]
		if g.nbuf < 16 {
			return
		}
		g.block(g.buf[:])
		g.nbuf = 0
	}
	for len(p) >= 16 {
		g.block(p[:16])
		p = p[16:]
	}
	g.nbuf = copy(g.buf[:], p)
}

// sum pads the last partial block, hashes lens and returns the result.
func (g *ghash) sum(lens [16]byte) [16]byte {
	if g.nbuf > 0 {
		clear(g.buf[g.nbuf:])
		g.block(g.buf[:])
		g.nbuf = 0
	}
	g.block(lens[:])
	var out [16]byte
	binary.BigEndian.PutUint64(out[:8], g.y.low)
	binary.BigEndian.PutUint64(out[8:], g.y.high)
	return out
}

func (g *ghash) block(b []byte) {
	g.y.low ^= binary.BigEndian.Uint64(b)
	g.y.high ^= binary.BigEndian.Uint64(b[8:])
	g.mul()
}

var ghashReduction = [16]uint16{
	0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
	0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
}

// mul sets y to y·H.
func (g *ghash) mul() {
	var z fieldElement
	for i := 0; i < 2; i++ {
		word := g.y.high
		if i == 1 {
			word = g.y.low
		}
		for j := 0; j < 64; j += 4 {
			msw := z.high & 0xf
			z.high >>= 4
			z.high |= z.low << 60
			z.low >>= 4
			z.low ^= uint64(ghashReduction[msw]) << 48
			t := g.table[word&0xf]
			z.low ^= t.low
			z.high ^= t.high
			word >>= 4
		}
	}
	g.y = z
}

// fieldDouble is x·2 in GCM's bit order: a right shift, reduced by
// x^128 = 1 + x + x^2 + x^7.
func fieldDouble(x fieldElement) fieldElement {
	d := fieldElement{low: x.low >> 1, high: x.high>>1 | x.low<<63}
	if x.high&1 == 1 {
		d.low ^= 0xe100000000000000
	}
	return d
}

// reverseBits reverses the four bits of i.
func reverseBits(i int) int {
	i = ((i << 2) & 0xc) | ((i >> 2) & 0x3)
	i = ((i << 1) & 0xa) | ((i >> 1) & 0x5)
	return i
}
