package compose

import (
	"strings"
	"testing"
	"unicode"
)

// TestHeaderInjection: no subject, name or field value, raw or
// RFC 2047-encoded, in Input or in the embedded message, creates a header
// field or decodes to a control character.
func TestHeaderInjection(t *testing.T) {
	const bcc = "Bcc: victim@example.com"
	tests := []struct {
		name     string
		subject  string
		embedded string
	}{
		{"subject crlf", "x\r\n" + bcc, ""},
		{"subject lf", "x\n" + bcc, ""},
		{"subject cr", "x\r" + bcc, ""},
		{"subject blank line", "x\r\n\r\nbody", ""},
		{"subject nel", "x\u0085" + bcc, ""},
		{"subject line separator", "x\u2028" + bcc, ""},
		{"subject nul", "x\x00" + bcc, ""},
		{"subject literal q word", "=?UTF-8?Q?x=0D=0ABcc:_v@e?=", ""},
		{"subject literal b word", "=?UTF-8?B?eA0KQmNjOiB2QGU=?=", ""},
		{"subject literal word in text", "re: a=?utf-8?q?=0A?=b", ""},
		{"embedded bcc field", "", "Subject: x\r\n" + bcc + "\r\n\r\nbody\r\n"},
		{"embedded q word", "", "Subject: =?UTF-8?Q?x=0D=0ABcc:_v@e?=\r\n\r\nbody\r\n"},
		{"embedded b word", "", "Subject: =?UTF-8?B?eA0KQmNjOiB2QGU=?=\r\n\r\nbody\r\n"},
		{"embedded latin1 word", "", "Subject: =?ISO-8859-1?Q?x=0D=0ABcc:_v@e?=\r\n\r\nbody\r\n"},
		{"embedded unknown charset word", "", "Subject: =?x-klingon?Q?x=0D=0ABcc:_v@e?=\r\n\r\nbody\r\n"},
		{"embedded bare cr in field", "", "Subject: x\r" + bcc + "\r\n\r\nbody\r\n"},
		{"embedded folded", "", "Subject: x\r\n\t" + bcc + "\r\n\r\nbody\r\n"},
		{"embedded custom field word", "", "X-Custom: =?UTF-8?Q?a=0D=0ABcc:_v@e?=\r\n\r\nbody\r\n"},
		{"embedded cc name word", "", "Cc: =?UTF-8?Q?Eve=0D=0ABcc:_v@e?= <eve@example.net>\r\n\r\nbody\r\n"},
		{"embedded from name word", "", "From: =?UTF-8?Q?Eve=0D=0AFrom:_v@e?= <eve@example.net>\r\n\r\nbody\r\n"},
		{"embedded param word", "", "Content-Type: text/plain; name=\"=?UTF-8?Q?a=0D=0ABcc:_v@e?=\"\r\n\r\nbody\r\n"},
		{"embedded disposition word", "", "Content-Disposition: inline; filename=\"=?UTF-8?Q?a=0D=0ABcc:_v@e?=\"\r\n\r\nbody\r\n"},
		{"embedded resent", "", "Resent-Bcc: victim@example.com\r\nResent-To: v@e\r\n\r\nbody\r\n"},
		{"embedded 8-bit crlf in custom", "", "X-Custom: caf\xc3\xa9 \xc2\x85Bcc: v@e\r\n\r\nbody\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			in.Subject = tc.subject
			if tc.embedded != "" {
				in.Embedded = []byte(tc.embedded)
			}
			out := mustCompose(t, in)
			checkNoInjection(t, out)
		})
	}
}

func checkNoInjection(t testing.TB, out []byte) {
	t.Helper()
	for _, f := range decodedFields(t, out) {
		k, v, _ := strings.Cut(f, ": ")
		switch strings.ToLower(k) {
		case "bcc", "resent-bcc", "resent-to", "sender", "reply-to":
			t.Errorf("field %q in output", f)
		}
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			t.Errorf("field %s decodes to a control character: %q", k, v)
		}
	}
	if got := fromAddresses(t, out); len(got) != 1 || got[0] != testFrom.Address {
		t.Errorf("From = %v", got)
	}
	for _, l := range leaves(t, out) {
		for f := l.h.Fields(); f.Next(); {
			if strings.EqualFold(f.Key(), "bcc") {
				t.Errorf("Bcc in a part")
			}
		}
	}
}
