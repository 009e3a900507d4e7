package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// envelopeVersion is the on-disk format version written in field "v".
const envelopeVersion = 1

// maxEnvelopeSize bounds an envelope file read from disk.
const maxEnvelopeSize = 16 << 20

type envelopeFile struct {
	Version int `json:"v"`
	Envelope
}

func encodeEnvelope(e *Envelope) ([]byte, error) {
	b, err := json.Marshal(envelopeFile{Version: envelopeVersion, Envelope: *e})
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return append(b, '\n'), nil
}

// decodeEnvelope parses and checks a stored envelope. Any problem yields an
// error wrapping ErrDamaged; it never panics (see FuzzEnvelope).
func decodeEnvelope(data []byte) (*Envelope, error) {
	if len(data) > maxEnvelopeSize {
		return nil, fmt.Errorf("%w: envelope of %d bytes", ErrDamaged, len(data))
	}
	var f envelopeFile
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: decode envelope: %w", ErrDamaged, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data after envelope", ErrDamaged)
	}
	if f.Version != envelopeVersion {
		return nil, fmt.Errorf("%w: envelope version %d", ErrDamaged, f.Version)
	}
	e := f.Envelope
	if err := e.validate(true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return &e, nil
}
