package keys

import (
	"crypto/sha1"
	"fmt"
	"net/url"
	"strings"
)

// zbase32Alphabet is the z-base-32 alphabet (draft-koch-openpgp-webkey-service §3.1).
const zbase32Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// WKDHash returns the WKD hash of an address's local part: the SHA-1 of the
// local part with ASCII upper case mapped to lower case, z-base-32 encoded
// (32 characters).
func WKDHash(localpart string) string {
	sum := sha1.Sum([]byte(asciiLower(localpart)))
	return zbase32(sum[:])
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// zbase32 encodes b, most significant bits first, without padding.
func zbase32(b []byte) string {
	var sb strings.Builder
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(zbase32Alphabet[(acc>>bits)&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(zbase32Alphabet[(acc<<(5-bits))&31])
	}
	return sb.String()
}

// WKDURLs returns the advanced and direct method URLs for addr
// (draft-koch-openpgp-webkey-service §3.1), each with the "l" parameter
// carrying the unmodified local part.
func WKDURLs(addr string) (advanced, direct string, err error) {
	local, domain, err := splitAddr(addr)
	if err != nil {
		return "", "", err
	}
	domain = strings.ToLower(domain)
	path := "/.well-known/openpgpkey/"
	q := "?l=" + url.QueryEscape(local)
	h := WKDHash(local)
	advanced = "https://openpgpkey." + domain + path + domain + "/hu/" + h + q
	direct = "https://" + domain + path + "hu/" + h + q
	return advanced, direct, nil
}

// splitAddr splits an email address, keeping the local part's case.
func splitAddr(addr string) (local, domain string, err error) {
	a := strings.TrimSpace(addr)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > maxAddressLen ||
		strings.ContainsAny(a, " \t\r\n<>()/\\\x00?#:") {
		return "", "", fmt.Errorf("%w: %q", ErrInvalidAddress, addr)
	}
	return a[:at], a[at+1:], nil
}
