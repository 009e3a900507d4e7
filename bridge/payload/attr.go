package payload

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// attr returns the value of the unqualified attribute name of start.
func attr(start xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// sizeAndSum reads the size and sha256 attributes shared by <mail/> and
// <external/>.
func sizeAndSum(start xml.StartElement, lim Limits) (int64, [32]byte, error) {
	var sum [32]byte
	el := start.Name.Local
	v := attr(start, "size")
	size, err := strconv.ParseInt(v, 10, 64)
	if err != nil || size < 0 || strings.HasPrefix(v, "+") {
		return 0, sum, fmt.Errorf("%w: <%s> size %q", ErrMalformed, el, v)
	}
	if size > lim.MaxMailBytes {
		return 0, sum, fmt.Errorf("%w: <%s> size %d, limit %d", ErrTooLarge, el, size, lim.MaxMailBytes)
	}
	if err := decodeFixed(sum[:], attr(start, "sha256"), hex.DecodeString); err != nil {
		return 0, sum, fmt.Errorf("%w: <%s> sha256: %w", ErrMalformed, el, err)
	}
	return size, sum, nil
}

// parseExternal reads the attributes of <external/>.
func parseExternal(start *xml.StartElement, lim Limits) (*External, error) {
	size, sum, err := sizeAndSum(*start, lim)
	if err != nil {
		return nil, err
	}
	x := &External{URL: attr(*start, "url"), Size: size, SHA256: sum}
	if err := decodeFixed(x.Key[:], attr(*start, "key"), base64.StdEncoding.DecodeString); err != nil {
		return nil, fmt.Errorf("%w: <external> key: %w", ErrMalformed, err)
	}
	if err := decodeFixed(x.IV[:], attr(*start, "iv"), base64.StdEncoding.DecodeString); err != nil {
		return nil, fmt.Errorf("%w: <external> iv: %w", ErrMalformed, err)
	}
	if err := checkURL(x.URL); err != nil {
		return nil, fmt.Errorf("%w: <external> url: %w", ErrMalformed, err)
	}
	return x, nil
}

// decodeFixed decodes s into exactly len(dst) bytes.
func decodeFixed(dst []byte, s string, decode func(string) ([]byte, error)) error {
	b, err := decode(s)
	if err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%d bytes, want %d", len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// checkURL accepts https URLs, and http ones only on a loopback host (a
// test upload server). The blob is encrypted and authenticated either way;
// TLS hides from the network which blob a recipient fetches.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%q: want an absolute URL without user info", s)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("scheme %q not allowed", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExternal is what Build requires of an External.
func checkExternal(x *External) error {
	if x.Size < 0 {
		return fmt.Errorf("%w: external: size %d", ErrMalformed, x.Size)
	}
	if err := checkURL(x.URL); err != nil {
		return fmt.Errorf("%w: external: url: %w", ErrMalformed, err)
	}
	return nil
}
