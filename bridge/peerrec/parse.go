package peerrec

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTXT parses one TXT record given as its character-strings, which are
// concatenated without separator (RFC 7208 §3.3).
func ParseTXT(strs []string) (Record, error) {
	return Parse(strings.Join(strs, ""))
}

// IsRecord reports whether txt claims to be a gateway record: it starts
// with "v=passerelle1" followed by the end, ';' or whitespace. Other TXT
// records at the name are ignored.
func IsRecord(txt string) bool {
	rest, ok := strings.CutPrefix(txt, "v="+Version)
	return ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')
}

// Parse parses a record's text strictly:
//
//	record  = tag *( ";" tag ) [ ";" ]
//	tag     = *WSP name *WSP "=" *WSP value *WSP
//	name    = ALPHA *( ALPHA / DIGIT / "_" / "-" )   ; lower case
//	value   = 1*( %x21-3A / %x3C-7E )                ; visible ASCII but ";"
//
// The first tag is v=passerelle1; jid, fp, policy and ttl are required;
// other names are ignored; a name twice is an error. Every error wraps
// ErrMalformed.
func Parse(txt string) (Record, error) {
	if len(txt) > MaxLen {
		return Record{}, fmt.Errorf("%w: %d bytes, over %d", ErrMalformed, len(txt), MaxLen)
	}
	tags, err := splitTags(txt)
	if err != nil {
		return Record{}, err
	}
	if len(tags) == 0 || tags[0].name != "v" {
		return Record{}, fmt.Errorf("%w: first tag is not v", ErrMalformed)
	}
	if tags[0].value != Version {
		return Record{}, fmt.Errorf("%w: version %q, want %s", ErrMalformed, tags[0].value, Version)
	}
	seen := map[string]string{}
	for _, tg := range tags {
		if _, dup := seen[tg.name]; dup {
			return Record{}, fmt.Errorf("%w: tag %s repeated", ErrMalformed, tg.name)
		}
		seen[tg.name] = tg.value
	}
	for _, req := range []string{"jid", "fp", "policy", "ttl"} {
		if _, ok := seen[req]; !ok {
			return Record{}, fmt.Errorf("%w: tag %s missing", ErrMalformed, req)
		}
	}
	return build(seen)
}

func build(tags map[string]string) (Record, error) {
	var r Record
	r.JID = tags["jid"]
	fp := tags["fp"]
	if len(fp) != 40 && len(fp) != 64 {
		return Record{}, fmt.Errorf("%w: fp of %d hex digits, want 40 (v4) or 64 (v6)", ErrMalformed, len(fp))
	}
	b, err := hex.DecodeString(fp)
	if err != nil {
		return Record{}, fmt.Errorf("%w: fp is not hex", ErrMalformed)
	}
	r.Fingerprint = b
	r.Policy = Policy(tags["policy"])
	ttl, err := parseSeconds(tags["ttl"])
	if err != nil {
		return Record{}, err
	}
	r.TTL = ttl
	return r, r.Validate()
}

// parseSeconds takes 1 to 9 decimal digits without a leading zero.
func parseSeconds(s string) (time.Duration, error) {
	if len(s) == 0 || len(s) > 9 || s[0] == '0' {
		return 0, fmt.Errorf("%w: ttl %q is not 1 to 9 digits without leading zero", ErrMalformed, s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: ttl %q: %v", ErrMalformed, s, err)
	}
	return time.Duration(n) * time.Second, nil
}

type tag struct{ name, value string }

func splitTags(txt string) ([]tag, error) {
	parts := strings.Split(txt, ";")
	if len(parts) > 1 && strings.Trim(parts[len(parts)-1], " \t") == "" {
		parts = parts[:len(parts)-1] // one trailing ";"
	}
	tags := make([]tag, 0, len(parts))
	for i, p := range parts {
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("%w: tag %d has no '='", ErrMalformed, i+1)
		}
		name, value = strings.Trim(name, " \t"), strings.Trim(value, " \t")
		if !validName(name) {
			return nil, fmt.Errorf("%w: tag %d: bad name %q", ErrMalformed, i+1, name)
		}
		if !validValue(value) {
			return nil, fmt.Errorf("%w: tag %s: bad value", ErrMalformed, name)
		}
		tags = append(tags, tag{name, value})
	}
	return tags, nil
}

func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ';' {
			return false
		}
	}
	return true
}
