package compose

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
)

// Content-Transfer-Encoding values (RFC 2045 §6.1).
const (
	cte7bit = "7bit"
	cte8bit = "8bit"
	cteQP   = "quoted-printable"
	cteB64  = "base64"
)

const maxLine = 998 // RFC 5322 §2.1.1, without the CRLF

var crlf = []byte("\r\n")

// normaliseLines turns every CRLF, lone CR and lone LF of b into CRLF and
// makes sure a non-empty b ends in CRLF (RFC 2046 §4.1.1 canonical text).
func normaliseLines(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			out = append(out, crlf...)
		case '\n':
			out = append(out, crlf...)
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, crlf) {
		out = append(out, crlf...)
	}
	return out
}

// lineShape reports whether b has only CRLF line ends with lines of at
// most maxLine octets, and whether it is 7-bit text (printable ASCII, SP,
// HTAB): the two conditions of RFC 2045 §2.7 and §2.8.
func lineShape(b []byte) (lines, ascii bool) {
	lines, ascii = true, true
	n := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			i, n = i+1, 0
			continue
		case c == '\r' || c == '\n':
			lines = false
		case c >= 0x80:
			ascii = false
		case c < ' ' && c != '\t' || c == 0x7f:
			ascii = false
		}
		if n++; n > maxLine {
			lines = false
		}
	}
	return lines, ascii
}

// textEncoding picks 7bit for short-lined ASCII text and quoted-printable
// for anything else (8-bit, controls, long lines), so the message needs no
// 8BITMIME. b is canonical (normaliseLines).
func textEncoding(b []byte) string {
	if lines, ascii := lineShape(b); lines && ascii {
		return cte7bit
	}
	return cteQP
}

// binaryEncoding keeps 7bit data that already is valid 7bit and ends in
// CRLF (so no byte is added); everything else is base64.
func binaryEncoding(b []byte) string {
	lines, ascii := lineShape(b)
	if lines && ascii && (len(b) == 0 || bytes.HasSuffix(b, crlf)) {
		return cte7bit
	}
	return cteB64
}

// messageEncoding is for message/* bodies, which may only be 7bit or 8bit
// (RFC 2046 §5.2.1). b is canonical. A line over 998 octets cannot be
// carried that way: base64 keeps the bytes, at the price of the rule.
func messageEncoding(b []byte) string {
	switch lines, ascii := lineShape(b); {
	case !lines:
		return cteB64
	case ascii:
		return cte7bit
	}
	return cte8bit
}

// writeBody writes b in transfer encoding cte.
func writeBody(w io.Writer, b []byte, cte string) error {
	switch cte {
	case cteQP:
		qw := quotedprintable.NewWriter(w)
		if _, err := qw.Write(b); err != nil {
			return err
		}
		return qw.Close()
	case cteB64:
		return writeBase64(w, b)
	}
	_, err := w.Write(b)
	return err
}

// writeBase64 writes 76-character lines, each ended by CRLF (RFC 2045
// §6.8).
func writeBase64(w io.Writer, b []byte) error {
	const raw = 57 // 76 base64 characters
	line := make([]byte, 0, 78)
	for len(b) > 0 {
		n := min(raw, len(b))
		line = base64.StdEncoding.AppendEncode(line[:0], b[:n])
		line = append(line, crlf...)
		if _, err := w.Write(line); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// streamBase64 is writeBase64 of head followed by the rest of r, read in
// blocks: only one block is held.
func streamBase64(w io.Writer, head []byte, r io.Reader) error {
	const block = 57 * 1024 // whole lines
	buf := make([]byte, block)
	pending := head
	for {
		full := len(pending) / 57 * 57
		if err := writeBase64(w, pending[:full]); err != nil {
			return err
		}
		rest := copy(buf, pending[full:])
		n, err := io.ReadFull(r, buf[rest:])
		pending = buf[:rest+n]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return writeBase64(w, pending)
		}
		if err != nil {
			return malformed("body", err)
		}
	}
}
