package jidesc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLocalpart is the RFC 7622 §3.3.1 limit on an (escaped) localpart.
const MaxLocalpart = 1023

// Errors returned by Unescape and the puppet helpers.
var (
	ErrEdgeSpace   = errors.New("jidesc: localpart begins or ends with a space")
	ErrRawChar     = errors.New("jidesc: escaped localpart holds a character that must be escaped")
	ErrInvalidUTF8 = errors.New("jidesc: invalid UTF-8")
	ErrTooLong     = errors.New("jidesc: localpart longer than 1023 bytes")
)

// escapes maps each XEP-0106 §3.2 character to the hex digits of its escape.
var escapes = map[byte]string{
	' ': "20", '"': "22", '&': "26", '\'': "27", '/': "2f",
	':': "3a", '<': "3c", '>': "3e", '@': "40", '\\': "5c",
}

// isEscape reports whether s begins with one of the ten escape sequences.
func isEscape(s string) bool {
	if len(s) < 3 || s[0] != '\\' {
		return false
	}
	_, ok := unescapes[s[1:3]]
	return ok
}

var unescapes = func() map[string]byte {
	m := make(map[string]byte, len(escapes))
	for c, hex := range escapes {
		m[hex] = c
	}
	return m
}()

// Escape transforms an unescaped localpart into its XEP-0106 form. It does
// not validate: see Validate for the rules a localpart must meet first.
func Escape(localpart string) string {
	var b strings.Builder
	b.Grow(len(localpart) + 8)
	for i := 0; i < len(localpart); i++ {
		c := localpart[i]
		hex, ok := escapes[c]
		if !ok || (c == '\\' && !isEscape(localpart[i:])) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('\\')
		b.WriteString(hex)
	}
	return b.String()
}

// Validate reports whether localpart may be escaped: valid UTF-8, no leading
// or trailing space (XEP-0106 §4.2) and, once escaped, within RFC 7622's
// length limit.
func Validate(localpart string) error {
	switch {
	case !utf8.ValidString(localpart):
		return ErrInvalidUTF8
	case strings.HasPrefix(localpart, " ") || strings.HasSuffix(localpart, " "):
		return ErrEdgeSpace
	case len(Escape(localpart)) > MaxLocalpart:
		return ErrTooLong
	}
	return nil
}

// Unescape reverses Escape. Sequences not in the table (including uppercase
// hex such as \5C) are left alone, as XEP-0106 §4.3 requires. It fails on
// characters an escaped localpart cannot contain, on \20 at either end, on
// invalid UTF-8 and on inputs over the RFC 7622 limit.
func Unescape(s string) (string, error) {
	if err := checkEscaped(s); err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if isEscape(s[i:]) {
			b.WriteByte(unescapes[s[i+1:i+3]])
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

func checkEscaped(s string) error {
	switch {
	case len(s) > MaxLocalpart:
		return ErrTooLong
	case !utf8.ValidString(s):
		return ErrInvalidUTF8
	case strings.HasPrefix(s, `\20`) || strings.HasSuffix(s, `\20`):
		return ErrEdgeSpace
	}
	if i := strings.IndexAny(s, ` "&'/:<>@`); i >= 0 {
		return fmt.Errorf("%w: %q at %d", ErrRawChar, s[i], i)
	}
	return nil
}
