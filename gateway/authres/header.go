package authres

import (
	"bytes"
	"strings"
)

// FieldName is the header field this package writes (RFC 8601 §2.2).
const FieldName = "Authentication-Results"

// field is one header field of a raw message: its name and the byte range
// [start, end) of the whole field, continuation lines and line end included.
type field struct {
	name       string
	start, end int
}

// value returns the field's unfolded value, without the name and colon.
func (f field) value(raw []byte) string {
	s := string(raw[f.start:f.end])
	_, v, _ := strings.Cut(s, ":")
	v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
	return strings.TrimSpace(v)
}

// scanHeader splits the top-level header of raw into fields. It stops at
// the first empty line, at a line that is not a field (the body starts
// there, as in a lax reader) or after maxFields fields.
func scanHeader(raw []byte, maxFields int) []field {
	var fs []field
	pos := 0
	for pos < len(raw) && len(fs) < maxFields {
		end := lineEnd(raw, pos)
		line := raw[pos:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' { // continuation
			if len(fs) == 0 {
				break
			}
			fs[len(fs)-1].end = end
			pos = end
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t") // obsolete WSP before the colon
		if !ok || !isFieldName(name) {
			break
		}
		fs = append(fs, field{name: string(name), start: pos, end: end})
		pos = end
	}
	return fs
}

// isFieldName reports whether b is an RFC 5322 §3.6.8 field name.
func isFieldName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return len(b) > 0
}

func lineEnd(raw []byte, pos int) int {
	if i := bytes.IndexByte(raw[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(raw)
}

// StripOwn returns raw without the top-level Authentication-Results fields
// whose authserv-id is hostname: RFC 8601 §5 has an MTA remove fields
// claiming to come from itself before adding its own, so a sender cannot
// forge our verdict. Other bytes are kept as they are.
func StripOwn(raw []byte, hostname string) []byte {
	var out []byte
	last := 0
	for _, f := range scanHeader(raw, maxHeaderFields) {
		if !strings.EqualFold(f.name, FieldName) || !strings.EqualFold(authservID(f.value(raw)), hostname) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(raw))
		}
		out = append(out, raw[last:f.start]...)
		last = f.end
	}
	if out == nil {
		return raw
	}
	return append(out, raw[last:]...)
}

// authservID extracts the authserv-id (RFC 8601 §2.2): the first token of
// the value before ";", comments removed, quotes stripped.
func authservID(v string) string {
	v, _, _ = strings.Cut(stripComments(v), ";")
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return ""
	}
	return strings.Trim(fields[0], `"`)
}

// stripComments removes RFC 5322 comments, nested ones included.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// clean makes an attacker-supplied string (a d= or s= tag, a From domain)
// safe inside our header field: printable ASCII without the MIME tspecials
// (RFC 2045 §5.1), which delimit results, so that it is always a bare
// token; bounded in length. Anything else is dropped.
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 253; i++ {
		if c := s[i]; c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c)) {
			b.WriteByte(c)
		}
	}
	return b.String()
}
