package compose

import (
	"mime"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

const maxParamBytes = 255

// contentType parses Content-Type (RFC 2045 §5). Absent, it is def
// (text/plain; charset=us-ascii for text/plain, RFC 2045 §5.2);
// unparsable, application/octet-stream, so the bytes are kept as they are.
func contentType(h textproto.Header, def string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		if def == "text/plain" {
			return def, map[string]string{"charset": "us-ascii"}
		}
		return def, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(cleanText(v))
	if err != nil && mt == "" || mime.FormatMediaType(mt, nil) == "" {
		return "application/octet-stream", map[string]string{}
	}
	return mt, cleanParams(params)
}

// cleanParams cleans parameter values. Many readers decode RFC 2047 words
// in quoted parameters (a filename="=?utf-8?q?...?="): a value whose words
// decode to control characters is replaced by its cleaned decoded text,
// which mime.FormatMediaType writes per RFC 2231.
func cleanParams(params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		v = cleanText(v)
		if strings.Contains(v, "=?") {
			d := mime.WordDecoder{CharsetReader: charset.Reader}
			if dec, err := d.DecodeHeader(v); err == nil && cleanText(dec) != dec {
				v = cleanText(dec)
			}
		}
		if v = cutUTF8(v, maxParamBytes); v != "" {
			out[k] = v
		}
	}
	return out
}

// contentFields are the Content-* fields of h other than Content-Type,
// Content-Transfer-Encoding and Content-Length, which the copier writes
// or drops. Content-Disposition is reformatted (RFC 2183) or dropped.
func contentFields(h textproto.Header) []field {
	var fs []field
	for f := h.Fields(); f.Next(); {
		k := strings.ToLower(f.Key())
		switch {
		case !strings.HasPrefix(k, "content-") || !validFieldName(f.Key()),
			k == "content-type", k == "content-transfer-encoding", k == "content-length":
			continue
		case k == "content-disposition":
			if v := disposition(f.Value()); v != "" {
				fs = append(fs, field{f.Key(), v})
			}
		default:
			if v := cleanValue(f.Value()); v != "" {
				fs = append(fs, field{f.Key(), v})
			}
		}
	}
	return fs
}

func disposition(v string) string {
	d, params, err := mime.ParseMediaType(cleanText(v))
	if err != nil && d == "" {
		return ""
	}
	return mime.FormatMediaType(d, cleanParams(params))
}

// formatType is mime.FormatMediaType, falling back to the bare type when a
// parameter cannot be formatted.
func formatType(mt string, params map[string]string) string {
	if v := mime.FormatMediaType(mt, params); v != "" {
		return v
	}
	return mime.FormatMediaType(mt, nil)
}
