package mime

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// readPlain reads a decoded text/plain body, up to max bytes of text.
// Trailing white space does not count as text that was cut.
func readPlain(r io.Reader, max int) (string, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return "", false, err
	}
	more, err := drainText(r)
	if err != nil {
		return "", false, err
	}
	s := strings.TrimRightFunc(cleanText(string(b)), unicode.IsSpace)
	if more || len(s) > max {
		return cutUTF8(s, max), true, nil
	}
	return s, false, nil
}

// drainText reads r to its end and reports whether it held anything but
// white space.
func drainText(r io.Reader) (bool, error) {
	more := false
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		more = more || len(bytes.TrimSpace(buf[:n])) > 0
		if errors.Is(err, io.EOF) {
			return more, nil
		}
		if err != nil {
			return more, err
		}
	}
}

// finishText trims s and caps it at max bytes, appending TruncationMarker
// when anything was cut.
func finishText(s string, max int, truncated bool) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > max {
		s, truncated = cutUTF8(s, max), true
	}
	if truncated {
		s = strings.TrimRight(s, " \t\n") + TruncationMarker
	}
	return s, truncated
}

// cutUTF8 returns the longest prefix of s of at most max bytes that ends
// on a rune boundary.
func cutUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// cleanText makes body text safe for a chat client and for XML: valid
// UTF-8, LF line ends, no control characters but TAB and LF.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\n' || r == '\t':
			return r
		case isControl(r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// cleanLine is cleanText for a one-line header value: every control
// character, line ends included, becomes a space.
func cleanLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.TrimSpace(s)
}

// isControl reports C0 and C1 controls, DEL, and the non-characters that
// XML 1.0 forbids (§2.2).
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0xfffe || r == 0xffff
}
