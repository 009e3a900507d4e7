package mtasts

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's mode (RFC 8461 §3.2).
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// MaxMaxAge is the largest max_age a policy may give (§3.2: 31557600 s).
const MaxMaxAge = 31557600 * time.Second

// ErrPolicy is wrapped by the errors of Parse and ParseRecord.
var ErrPolicy = errors.New("mtasts: invalid policy")

// Policy is a parsed MTA-STS policy.
type Policy struct {
	Mode   Mode
	MX     []string // patterns, lower case: "mx.example.org" or "*.example.org"
	MaxAge time.Duration
}

// Parse reads a policy body (§3.2): "key: value" lines ending in LF or
// CRLF; version STSv1, mode, max_age and, unless mode is none, at least
// one mx are required; unknown keys are ignored.
func Parse(body string) (*Policy, error) {
	p := &Policy{}
	var version string
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %q", ErrPolicy, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "mx" && seen[k] {
			continue // the first value counts
		}
		seen[k] = true
		switch k {
		case "version":
			version = v
		case "mode":
			p.Mode = Mode(v)
		case "max_age":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || time.Duration(n)*time.Second > MaxMaxAge {
				return nil, fmt.Errorf("%w: max_age %q", ErrPolicy, v)
			}
			p.MaxAge = time.Duration(n) * time.Second
		case "mx":
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("%w: version %q", ErrPolicy, version)
	case p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone:
		return nil, fmt.Errorf("%w: mode %q", ErrPolicy, p.Mode)
	case !seen["max_age"]:
		return nil, fmt.Errorf("%w: no max_age", ErrPolicy)
	case p.Mode != ModeNone && len(p.MX) == 0:
		return nil, fmt.Errorf("%w: no mx", ErrPolicy)
	}
	return p, nil
}

// Match reports whether MX host name host is allowed (§4.1): equal to a
// pattern, or "*.rest" with host one label followed by rest.
func (p *Policy) Match(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if label, tail, ok := strings.Cut(host, "."); ok && label != "" && tail == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// ParseRecord reads the TXT record of _mta-sts.<domain> (§3.1) and returns
// its id. ok is false for a TXT string that is not an STS record (it does
// not start with "v=STSv1").
func ParseRecord(txt string) (id string, ok bool, err error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", false, nil
	}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" && id == "" {
			id = v
		}
	}
	if id == "" || len(id) > 32 || strings.IndexFunc(id, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return "", true, fmt.Errorf("%w: record id %q", ErrPolicy, id)
	}
	return id, true, nil
}
