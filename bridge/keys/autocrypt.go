package keys

import (
	"encoding/base64"
	"fmt"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// maxAutocryptHeader bounds an Autocrypt header: base64 of MaxKeyBytes
// plus folding and attributes.
const maxAutocryptHeader = MaxKeyBytes/3*4 + 64<<10

// Autocrypt is a parsed Autocrypt Level 1 header (§2.1).
type Autocrypt struct {
	Addr          string // normalised
	PreferEncrypt string // "mutual" or "nopreference"
	Key           *openpgp.Entity
}

// ParseAutocrypt parses the value of an Autocrypt header:
// "addr=...; [prefer-encrypt=mutual;] keydata=BASE64". Attributes whose
// name starts with "_" are ignored; any other unknown attribute, a
// duplicate, or a missing addr or keydata makes the header invalid
// (§2.1). The caller must check Addr against the mail's From address.
func ParseAutocrypt(header string) (*Autocrypt, error) {
	if len(header) > maxAutocryptHeader {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAutocrypt, ErrTooLarge)
	}
	attrs, err := autocryptAttrs(header)
	if err != nil {
		return nil, err
	}
	addr, err := NormalizeAddress(attrs["addr"])
	if err != nil {
		return nil, fmt.Errorf("%w: addr: %w", ErrInvalidAutocrypt, err)
	}
	key, err := autocryptKey(attrs["keydata"])
	if err != nil {
		return nil, err
	}
	pe := "nopreference"
	if attrs["prefer-encrypt"] == "mutual" {
		pe = "mutual"
	}
	return &Autocrypt{Addr: addr, PreferEncrypt: pe, Key: key}, nil
}

func autocryptAttrs(header string) (map[string]string, error) {
	attrs := make(map[string]string, 3)
	for _, part := range strings.Split(header, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: attribute without value", ErrInvalidAutocrypt)
		case strings.HasPrefix(name, "_"):
			continue
		case name != "addr" && name != "prefer-encrypt" && name != "keydata":
			return nil, fmt.Errorf("%w: unknown critical attribute %.40q", ErrInvalidAutocrypt, name)
		}
		if _, dup := attrs[name]; dup {
			return nil, fmt.Errorf("%w: duplicate attribute %s", ErrInvalidAutocrypt, name)
		}
		attrs[name] = strings.TrimSpace(value)
	}
	if attrs["addr"] == "" || attrs["keydata"] == "" {
		return nil, fmt.Errorf("%w: addr and keydata are required", ErrInvalidAutocrypt)
	}
	return attrs, nil
}

func autocryptKey(keydata string) (*openpgp.Entity, error) {
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, keydata)
	raw, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: keydata: %w", ErrInvalidAutocrypt, err)
	}
	el, err := ParseKeys(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: keydata: %w", ErrInvalidAutocrypt, err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("%w: keydata holds %d keys", ErrInvalidAutocrypt, len(el))
	}
	return el[0], nil
}

// AutocryptHeader formats the Autocrypt header value for e and addr
// (minimal binary key data, folded by the caller's header writer).
func AutocryptHeader(addr string, e *openpgp.Entity, mutual bool) (string, error) {
	var sb strings.Builder
	enc := base64.NewEncoder(base64.StdEncoding, &sb)
	if err := e.Serialize(enc); err != nil {
		return "", fmt.Errorf("autocrypt header: %w", err)
	}
	enc.Close()
	pe := ""
	if mutual {
		pe = " prefer-encrypt=mutual;"
	}
	return "addr=" + addr + ";" + pe + " keydata=" + sb.String(), nil
}
