package natsstore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"passerelle/gateway/queue"
)

// recordVersion is the put record's format version.
const recordVersion = 1

// putHeader is the first line of a put record; the inline bodies follow,
// in order, each exactly its Body.Size bytes.
type putHeader struct {
	Version int             `json:"v"`
	Inline  []bool          `json:"inline"` // per body: in this record, or in the object store
	Env     json.RawMessage `json:"env"`
}

// state is a message's KV value.
type state struct {
	Rcpts []queue.Recipient `json:"rcpts,omitempty"`
	// Quarantined is set (the reason) once the message is set aside: it
	// is never handed out again; its put record and bodies stay for the
	// operator.
	Quarantined string `json:"quarantined,omitempty"`
}

func encodePut(e *queue.Envelope, inline []bool, bodies [][]byte) ([]byte, error) {
	env, err := queue.EncodeEnvelope(e)
	if err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(putHeader{Version: recordVersion, Inline: inline, Env: bytes.TrimSpace(env)})
	if err != nil {
		return nil, fmt.Errorf("encode put record: %w", err)
	}
	var b bytes.Buffer
	b.Write(hdr)
	b.WriteByte('\n')
	for _, body := range bodies {
		b.Write(body)
	}
	return b.Bytes(), nil
}

// decodePut parses a put record; any problem is an error wrapping
// queue.ErrDamaged. It never panics (FuzzDecodePut).
func decodePut(data []byte) (*queue.Envelope, [][]byte, error) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return nil, nil, fmt.Errorf("%w: put record without a header line", queue.ErrDamaged)
	}
	var h putHeader
	if err := json.Unmarshal(data[:nl], &h); err != nil {
		return nil, nil, fmt.Errorf("%w: put record header: %w", queue.ErrDamaged, err)
	}
	if h.Version != recordVersion {
		return nil, nil, fmt.Errorf("%w: put record version %d", queue.ErrDamaged, h.Version)
	}
	e, err := queue.DecodeEnvelope(h.Env)
	if err != nil {
		return nil, nil, err
	}
	if len(h.Inline) != len(e.Bodies) {
		return nil, nil, fmt.Errorf("%w: %d inline flags for %d bodies", queue.ErrDamaged, len(h.Inline), len(e.Bodies))
	}
	rest := data[nl+1:]
	inline := make([][]byte, len(e.Bodies))
	for n, in := range h.Inline {
		if !in {
			continue
		}
		size := e.Bodies[n].Size
		if size < 0 || size > int64(len(rest)) {
			return nil, nil, fmt.Errorf("%w: body %d truncated", queue.ErrDamaged, n)
		}
		inline[n], rest = rest[:size:size], rest[size:]
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after the bodies", queue.ErrDamaged, len(rest))
	}
	return e, inline, nil
}

func decodeState(data []byte) (*state, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w: state: %w", queue.ErrDamaged, err)
	}
	return &st, nil
}
