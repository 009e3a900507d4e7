package smtpd

import "errors"

// Violations found by scanLine.
var (
	errBareCR   = errors.New("smtpd: bare CR")
	errBareLF   = errors.New("smtpd: bare LF")
	errNUL      = errors.New("smtpd: NUL byte")
	errLongLine = errors.New("smtpd: line too long")
)

// scanLine inspects buf, which starts at a position inside a line, and says
// how much of it may be handed on. n > 0 with full set is a complete line
// ending in CRLF. With partial set (DATA), a line may be handed on in
// pieces: n > 0 without full is the longest checked prefix, which never
// ends in CR. At a line start (atStart) a piece beginning with '.' is held
// back until it cannot be the end-of-data line ".\r\n". n == 0 without an
// error means more input is needed. max bounds a line including CRLF when
// greater than 0.
//
// RFC 5321 §2.3.8: CR and LF must only occur together as CRLF; a NUL is
// refused everywhere. Any violation returns an error and n == 0, so nothing
// of the offending line is handed on.
func scanLine(buf []byte, max int, partial, atStart bool) (n int, full bool, err error) {
	for i := 0; i < len(buf); i++ {
		if max > 0 && i >= max {
			return 0, false, errLongLine
		}
		switch buf[i] {
		case 0:
			return 0, false, errNUL
		case '\n':
			return 0, false, errBareLF // a CRLF is consumed at the CR
		case '\r':
			if i+1 == len(buf) {
				return piece(i, partial, atStart, buf), false, nil
			}
			if buf[i+1] != '\n' {
				return 0, false, errBareCR
			}
			if max > 0 && i+2 > max {
				return 0, false, errLongLine
			}
			return i + 2, true, nil
		}
	}
	if max > 0 && len(buf) >= max {
		return 0, false, errLongLine // no room left for the CRLF
	}
	return piece(len(buf), partial, atStart, buf), false, nil
}

func piece(n int, partial, atStart bool, buf []byte) int {
	if !partial || (atStart && n < 3 && n > 0 && buf[0] == '.') {
		return 0
	}
	return n
}
