package jidesc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrBadEmail is wrapped by every email validation failure.
var ErrBadEmail = errors.New("jidesc: invalid email address")

// RFC 5321 §4.5.3.1.1 and §4.5.3.1.2 size limits.
const (
	maxEmailLocal  = 64
	maxEmailDomain = 255
)

// SplitEmail validates an addr-spec (RFC 5322 §3.4.1 dot-atom or quoted
// local part, RFC 6531 UTF-8 allowed; a hostname domain, no address
// literals) and returns its local part and lowercased domain.
func SplitEmail(email string) (local, domain string, err error) {
	if !utf8.ValidString(email) {
		return "", "", fmt.Errorf("%w: invalid UTF-8", ErrBadEmail)
	}
	local, domain, ok := splitAt(email)
	if !ok {
		return "", "", fmt.Errorf("%w: %q: want local@domain", ErrBadEmail, email)
	}
	if err := checkLocal(local); err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrBadEmail, email, err)
	}
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if err := checkDomain(domain); err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", ErrBadEmail, email, err)
	}
	return local, domain, nil
}

func checkLocal(local string) error {
	if len(local) > maxEmailLocal {
		return errors.New("local part over 64 octets")
	}
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		return checkQuoted(local[1 : len(local)-1])
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return errors.New("misplaced dot in local part")
	}
	for _, r := range local {
		if r != '.' && !isAtext(r) {
			return fmt.Errorf("character %q not allowed unquoted", r)
		}
	}
	return nil
}

// checkQuoted checks the inside of an RFC 5322 §3.2.4 quoted-string.
func checkQuoted(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return errors.New("control character in local part")
		case c == '"':
			return errors.New("unescaped quote in quoted local part")
		case c == '\\':
			if i+1 == len(s) || s[i+1] < 0x20 || s[i+1] == 0x7f {
				return errors.New("bad quoted-pair in local part")
			}
			i++
		}
	}
	return nil
}

// isAtext reports RFC 5322 §3.2.3 atext, extended by RFC 6532 to UTF-8.
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r >= 0x80:
		return r != utf8.RuneError
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// checkDomain accepts a (possibly internationalised) hostname.
func checkDomain(d string) error {
	if d == "" || len(d) > maxEmailDomain {
		return errors.New("domain empty or too long")
	}
	for _, label := range strings.Split(d, ".") {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	return nil
}

func checkLabel(l string) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("bad domain label %q", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("domain label %q begins or ends with a hyphen", l)
	}
	for _, r := range l {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r >= 0x80 && r != utf8.RuneError
		if !ok {
			return fmt.Errorf("character %q not allowed in domain", r)
		}
	}
	return nil
}
