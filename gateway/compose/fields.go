package compose

import (
	"mime"

	"github.com/emersion/go-message/charset"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// dropField reports the top-level fields of an embedded message Compose
// does not copy: those it writes itself, identity and reply-routing
// fields (the sender is the authenticated XMPP user), trace and
// authentication results (they describe another path), and keys.
func dropField(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "from", "to", "cc", "subject", "date", "message-id", "in-reply-to",
		"references", "mime-version",
		"sender", "reply-to", "bcc", "return-path", "errors-to",
		"mail-followup-to", "mail-reply-to", "disposition-notification-to",
		"return-receipt-to", "delivered-to", "x-original-to",
		"received", "received-spf", "authentication-results", "dkim-signature",
		"domainkey-signature", "autocrypt", "autocrypt-gossip", "hp-outer":
		return true
	}
	for _, p := range []string{"resent-", "content-", "arc-", "list-", "x-original-"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// keptFields are the other top-level fields, values cleaned.
func keptFields(h textproto.Header) []field {
	var fs []field
	for f := h.Fields(); f.Next(); {
		k := f.Key()
		if dropField(k) || !validFieldName(k) {
			continue
		}
		if v := cleanValue(f.Value()); v != "" {
			fs = append(fs, field{k, v})
		}
	}
	return fs
}

// cleanValue makes an unknown field's value safe: controls go, and a value
// whose encoded words would decode to controls, or that has raw 8-bit
// text, is re-encoded as unstructured text (RFC 2047 §5(1)).
func cleanValue(v string) string {
	v = cleanText(v)
	ascii := isASCII(v)
	if ascii && !strings.Contains(v, "=?") {
		return v
	}
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	dec, err := d.DecodeHeader(v)
	switch {
	case err != nil:
		return encodeText(v) // undecodable words are shown literally
	case ascii && cleanText(dec) == dec:
		return v
	}
	return encodeText(cleanText(dec))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
