package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
)

// mail reads <mail/>: inline base64 text or one <external/> child.
func (r *reader) mail(start xml.StartElement) (*Mail, error) {
	m := &Mail{MessageID: attr(start, "message-id"), InReplyTo: attr(start, "in-reply-to")}
	data, ext, err := r.mailContent()
	if err != nil {
		return nil, err
	}
	switch {
	case ext != nil && len(data) > 0:
		return nil, fmt.Errorf("%w: <mail> has both text and <external>", ErrMalformed)
	case ext != nil:
		m.External, err = parseExternal(ext, r.lim)
	default:
		m.Raw, err = decodeInline(start, data, r.lim)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// mailContent collects the non-white-space text of <mail/> and its
// <external/> child; other children are skipped.
func (r *reader) mailContent() ([]byte, *xml.StartElement, error) {
	var data []byte
	var ext *xml.StartElement
	for {
		t, err := r.next()
		if err != nil {
			return nil, nil, err
		}
		switch t := t.(type) {
		case xml.EndElement:
			return data, ext, nil
		case xml.CharData:
			data = appendNonSpace(data, t)
		case xml.StartElement:
			if t.Name == (xml.Name{Space: NS, Local: "external"}) {
				if ext != nil {
					return nil, nil, fmt.Errorf("%w: second <external>", ErrMalformed)
				}
				ext = &t
			}
			if err := r.skip(2); err != nil {
				return nil, nil, err
			}
		}
	}
}

// decodeInline checks the attributes of an inline <mail/> and decodes it.
func decodeInline(start xml.StartElement, data []byte, lim Limits) ([]byte, error) {
	if enc := attr(start, "encoding"); enc != "base64" {
		return nil, fmt.Errorf("%w: <mail> encoding %q", ErrUnsupported, enc)
	}
	size, sum, err := sizeAndSum(start, lim)
	if err != nil {
		return nil, err
	}
	if int64(base64.StdEncoding.DecodedLen(len(data))) > size+2 {
		return nil, fmt.Errorf("%w: <mail> data longer than size %d", ErrIntegrity, size)
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Strict().Decode(raw, data)
	if err != nil {
		return nil, fmt.Errorf("%w: <mail> base64: %w", ErrMalformed, err)
	}
	raw = raw[:n]
	if err := verify(raw, size, sum); err != nil {
		return nil, err
	}
	return raw, nil
}

// verify checks raw against the declared size and SHA-256.
func verify(raw []byte, size int64, sum [32]byte) error {
	if int64(len(raw)) != size {
		return fmt.Errorf("%w: %d bytes, declared %d", ErrIntegrity, len(raw), size)
	}
	if sha256.Sum256(raw) != sum {
		return fmt.Errorf("%w: sha256 differs", ErrIntegrity)
	}
	return nil
}

// appendNonSpace appends b without the white space XML may put in base64.
func appendNonSpace(dst, b []byte) []byte {
	for len(b) > 0 {
		i := bytes.IndexAny(b, " \t\r\n")
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		b = b[i+1:]
	}
	return dst
}
