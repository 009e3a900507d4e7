package compose

import (
	"encoding/base64"
	"fmt"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// maxSubjectBytes caps a subject before encoding; longer ones are cut at a
// UTF-8 boundary.
const maxSubjectBytes = 900

// field is one header field to write, value unfolded and free of controls.
type field struct{ k, v string }

// buildHeader makes a textproto.Header writing fs in order (textproto
// writes the most recently added field first). It refuses what
// textproto.WriteHeader would silently drop inside a multipart.
func buildHeader(fs []field) (textproto.Header, error) {
	var h textproto.Header
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		if !validFieldName(f.k) || strings.ContainsAny(f.v, "\r\n") {
			return h, fmt.Errorf("compose: bad header field %q", f.k)
		}
		h.Add(f.k, f.v)
	}
	return h, nil
}

// validFieldName reports an RFC 5322 §3.6.8 field name.
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '!' || k[i] > '~' || k[i] == ':' {
			return false
		}
	}
	return true
}

// cleanText makes s safe as the text of one header field: invalid UTF-8
// becomes U+FFFD, every run of control characters (CR, LF, TAB, other C0
// and C1, DEL) and Unicode line or paragraph separators becomes one space,
// and surrounding spaces go.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	ctl := false
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			ctl = true
			continue
		}
		if ctl {
			b.WriteByte(' ')
			ctl = false
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// cutUTF8 cuts s to at most n bytes at a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// encodeText encodes clean unstructured text for a header (RFC 2047 §5(1)).
// Plain ASCII stays as is; anything holding "=?" is encoded as a whole so
// that a literal encoded-word typed by the user is shown literally and can
// never decode to a control character.
func encodeText(s string) string {
	if !strings.Contains(s, "=?") {
		return mime.QEncoding.Encode("utf-8", s)
	}
	return forceEncode(s)
}

// forceEncode writes s as B encoded-words of at most 75 characters
// (RFC 2047 §2), split at rune boundaries.
func forceEncode(s string) string {
	const maxRaw = 45 // 60 base64 characters + "=?utf-8?b??=" = 72
	var words []string
	for s != "" {
		chunk := cutUTF8(s, maxRaw)
		if chunk == "" { // cannot happen with valid UTF-8; avoid a loop
			chunk = s[:1]
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(chunk))+"?=")
		s = s[len(chunk):]
	}
	return strings.Join(words, " ")
}

// subjectValue is the encoded Subject for raw, user-supplied text.
func subjectValue(raw string) string {
	return encodeText(cutUTF8(cleanText(raw), maxSubjectBytes))
}
