package queue

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A log record is a 16-byte head and a payload:
//
//	magic "PQL1" | payload length u32 | CRC-32C of the payload u32 | header length u32
//	header (JSON recHeader) | inline bodies, concatenated in body order
//
// All integers are big-endian. The header length is the first four bytes
// of the payload, so the CRC covers it.
const (
	recMagic   = "PQL1"
	recHeadLen = 16
	// maxRecord bounds a record read back, so a damaged length cannot make
	// a reader allocate without bound (inline bodies are at most
	// inlineMax each; larger ones are files).
	maxRecord = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Record operations.
const (
	opPut        = "put"        // a message: envelope and inline bodies
	opUpdate     = "update"     // new recipient state of a message
	opRemove     = "remove"     // a finished message
	opQuarantine = "quarantine" // a message set aside (its files copied to quarantine/)
)

// recHeader is the JSON header of a record.
type recHeader struct {
	Op     string      `json:"op"`
	ID     string      `json:"id"`
	Env    *Envelope   `json:"env,omitempty"`    // put
	Inline []bool      `json:"inline,omitempty"` // put: per body, whether it follows the header
	Rcpts  []Recipient `json:"rcpts,omitempty"`  // update
	Reason string      `json:"reason,omitempty"` // quarantine
}

// encodeRecord returns the record for h followed by the inline bodies.
// bodyStart is where the first inline body starts in the record.
func encodeRecord(h *recHeader, inline ...[]byte) (rec []byte, bodyStart int64, err error) {
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, 0, fmt.Errorf("encode log record: %w", err)
	}
	n := 4 + len(hdr)
	for _, b := range inline {
		n += len(b)
	}
	if n > maxRecord {
		return nil, 0, fmt.Errorf("%w: log record of %d bytes", ErrInvalid, n)
	}
	rec = make([]byte, recHeadLen, recHeadLen+n-4)
	copy(rec, recMagic)
	binary.BigEndian.PutUint32(rec[4:], uint32(n))
	binary.BigEndian.PutUint32(rec[12:], uint32(len(hdr)))
	rec = append(rec, hdr...)
	for _, b := range inline {
		rec = append(rec, b...)
	}
	binary.BigEndian.PutUint32(rec[8:], crc32.Checksum(rec[12:], crcTable))
	return rec, recHeadLen + int64(len(hdr)), nil
}

// errTorn marks the end of the valid records of a segment where what
// follows is an incomplete record (a write cut short by a crash, or one in
// progress when a reader looked) or zeros: never acknowledged, not damage.
var errTorn = errors.New("queue: torn log record")

// rawRecord is one record read back from a segment's bytes.
type rawRecord struct {
	off     int64 // of the record head
	size    int64 // head + payload
	hdr     recHeader
	bodyOff int64  // offset of the first inline body in the segment
	inline  []byte // the inline bodies
}

// parseRecord parses the record at data[off:]. It returns io.EOF at the
// end of data, errTorn for an incomplete record or zeros up to the end,
// and an error wrapping ErrDamaged for anything else that does not check
// out.
func parseRecord(data []byte, off int64) (*rawRecord, error) {
	rest := data[off:]
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if allZero(rest) {
		return nil, errTorn
	}
	if len(rest) < recHeadLen && string(rest[:min(len(rest), 4)]) == recMagic[:min(len(rest), 4)] {
		return nil, errTorn // the head itself was cut short
	}
	if len(rest) < recHeadLen || string(rest[:4]) != recMagic {
		return nil, fmt.Errorf("%w: log record at %d: bad magic", ErrDamaged, off)
	}
	size := int64(binary.BigEndian.Uint32(rest[4:]))
	hlen := int64(binary.BigEndian.Uint32(rest[12:]))
	if size < 4 || size > maxRecord || hlen > size-4 {
		return nil, fmt.Errorf("%w: log record at %d: bad length", ErrDamaged, off)
	}
	total := recHeadLen - 4 + size
	if int64(len(rest)) < total {
		return nil, errTorn // the write of the last record was cut short
	}
	payload := rest[12:total]
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(rest[8:]) {
		// Keep what still parses: it names the message for the operator,
		// and replay decides whether the envelope can be trusted.
		rec := &rawRecord{off: off, size: total, bodyOff: off + recHeadLen + hlen, inline: payload[4+hlen:]}
		_ = json.Unmarshal(payload[4:4+hlen], &rec.hdr)
		return rec, fmt.Errorf("%w: log record at %d: checksum mismatch", ErrDamaged, off)
	}
	rec := &rawRecord{off: off, size: total, bodyOff: off + recHeadLen + hlen, inline: payload[4+hlen:]}
	if err := json.Unmarshal(payload[4:4+hlen], &rec.hdr); err != nil {
		return nil, fmt.Errorf("%w: log record at %d: %w", ErrDamaged, off, err)
	}
	return rec, rec.check(int64(len(rec.inline)))
}

// frameEnd returns where the damaged record at off ends if its head still
// frames it: magic and a length that ends at the end of data or at
// another record's magic. It returns -1 otherwise.
func frameEnd(data []byte, off int64) int64 {
	rest := data[off:]
	if len(rest) < recHeadLen || string(rest[:4]) != recMagic {
		return -1
	}
	size := int64(binary.BigEndian.Uint32(rest[4:]))
	end := off + recHeadLen - 4 + size
	if size < 4 || size > maxRecord || end > int64(len(data)) {
		return -1
	}
	if end == int64(len(data)) || bytes.HasPrefix(data[end:], []byte(recMagic)) {
		return end
	}
	return -1
}

// resync finds the next valid record after a damaged one at off, for
// replay to go on past damage. It returns -1 if there is none.
func resync(data []byte, off int64) int64 {
	for i := off + 1; i < int64(len(data)); i++ {
		j := bytes.Index(data[i:], []byte(recMagic))
		if j < 0 {
			return -1
		}
		i += int64(j)
		if _, err := parseRecord(data, i); err == nil {
			return i
		}
	}
	return -1
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// check validates a record's header; inlineBytes is what follows it.
func (r *rawRecord) check(inlineBytes int64) error {
	h := &r.hdr
	if !validID(h.ID) {
		return fmt.Errorf("%w: log record at %d: bad id", ErrDamaged, r.off)
	}
	switch h.Op {
	case opPut:
		if h.Env == nil || h.Env.ID != h.ID || len(h.Inline) != len(h.Env.Bodies) {
			return fmt.Errorf("%w: log record at %d: bad put", ErrDamaged, r.off)
		}
		if err := h.Env.validate(true); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrDamaged, h.ID, err)
		}
		var sum int64
		for i, in := range h.Inline {
			if in {
				sum += h.Env.Bodies[i].Size
			}
		}
		if sum != inlineBytes {
			return fmt.Errorf("%w: %s: inline bodies are %d bytes, want %d", ErrDamaged, h.ID, inlineBytes, sum)
		}
	case opUpdate:
		if len(h.Rcpts) == 0 || inlineBytes != 0 {
			return fmt.Errorf("%w: log record at %d: bad update", ErrDamaged, r.off)
		}
	case opRemove, opQuarantine:
		if inlineBytes != 0 {
			return fmt.Errorf("%w: log record at %d: bad %s", ErrDamaged, r.off, h.Op)
		}
	default:
		return fmt.Errorf("%w: log record at %d: unknown op %q", ErrDamaged, r.off, trunc(h.Op))
	}
	return nil
}

// damagedBody reports, for a put record whose checksum failed, which
// inline body explains it: the header parses and checks out and that
// body no longer matches its SHA-256, so the envelope can be trusted (the
// damage is in the body). It returns -1 otherwise.
func (r *rawRecord) damagedBody() int {
	if r.hdr.Op != opPut || r.check(int64(len(r.inline))) != nil {
		return -1
	}
	for n, in := range r.hdr.Inline {
		if in && sha256Hex(r.inlineBody(n)) != r.hdr.Env.Bodies[n].SHA256 {
			return n
		}
	}
	return -1
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// inlineOffsets returns, per body of a put record, where it starts in the
// segment, or -1 for a body kept as a file.
func (r *rawRecord) inlineOffsets() []int64 {
	return inlineOffsets(r.hdr.Env.Bodies, r.hdr.Inline, r.bodyOff)
}

func inlineOffsets(bodies []Body, inline []bool, start int64) []int64 {
	out := make([]int64, len(bodies))
	for i, in := range inline {
		out[i] = -1
		if in {
			out[i] = start
			start += bodies[i].Size
		}
	}
	return out
}

// inlineBody returns inline body n of a put record.
func (r *rawRecord) inlineBody(n int) []byte {
	offs := r.inlineOffsets()
	start := offs[n] - r.bodyOff
	return r.inline[start : start+r.hdr.Env.Bodies[n].Size]
}
