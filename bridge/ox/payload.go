package ox

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

const maxPayloadDepth = 64

// encodeTokens serialises tokens from r (a payload given as tokens).
func encodeTokens(r xml.TokenReader) ([]byte, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	for {
		tok, err := r.Token()
		if tok != nil {
			if err := enc.EncodeToken(tok); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	return buf.Bytes(), nil
}

// checkPayload verifies that inner is well-formed XML content for the
// inside of <payload>: balanced elements, no DOCTYPE or processing
// instructions, nesting at most maxPayloadDepth.
func checkPayload(inner []byte) error {
	dec := xml.NewDecoder(io.MultiReader(
		bytes.NewReader([]byte("<payload>")), bytes.NewReader(inner), bytes.NewReader([]byte("</payload>"))))
	dec.Strict = true
	depth, closed := 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidPayload, err)
		}
		if closed {
			return fmt.Errorf("%w: content after </payload>", ErrInvalidPayload)
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxPayloadDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrInvalidPayload, maxPayloadDepth)
			}
		case xml.EndElement:
			depth--
			closed = depth == 0
		case xml.ProcInst, xml.Directive:
			return fmt.Errorf("%w: processing instruction or directive", ErrInvalidPayload)
		}
	}
	if !closed {
		return fmt.Errorf("%w: unbalanced", ErrInvalidPayload)
	}
	return nil
}
