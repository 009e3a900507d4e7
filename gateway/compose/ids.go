package compose

import (
	"crypto/rand"
	"net/mail"
	"strings"
)

const (
	maxMsgIDLen   = 250 // RFC 5322 sets none; keeps a line well under 998
	maxReferences = 50
	maxAddrLen    = 254
)

// msgID validates a Message-ID given with or without angle brackets and
// returns it without them. Only the dot-atom forms of RFC 5322 §3.6.4 are
// accepted (plus a domain literal on the right), which is what real
// mailers produce; nothing in it can break a header.
func msgID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	left, right, ok := strings.Cut(s, "@")
	if !ok || len(s) > maxMsgIDLen || !dotAtom(left) {
		return "", false
	}
	if strings.HasPrefix(right, "[") && strings.HasSuffix(right, "]") {
		right = right[1 : len(right)-1]
	}
	return s, dotAtom(right)
}

func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !atext(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// atext is RFC 5322 §3.2.3 atext, ASCII only.
func atext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// msgIDs keeps the valid ids of list, in order, without duplicates.
func msgIDs(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if id, ok := msgID(s); ok && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// trimReferences keeps the thread root and the most recent ids.
func trimReferences(ids []string) []string {
	if len(ids) <= maxReferences {
		return ids
	}
	return append([]string{ids[0]}, ids[len(ids)-maxReferences+1:]...)
}

func formatIDs(ids []string) string {
	return "<" + strings.Join(ids, "> <") + ">"
}

// newMsgID makes "random@host" (RFC 5322 §3.6.4: unique, right side a
// domain).
func newMsgID(host string) string {
	return strings.ToLower(rand.Text()) + "@" + host
}

// newBoundary makes a multipart boundary: "=_" never occurs in
// quoted-printable or base64 output (RFC 2045 §6.7, §6.8).
func newBoundary() string {
	return "=_" + rand.Text()
}

// validHost reports a host name usable as a msg-id right side: LDH labels.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkAddress validates an addr-spec and cleans the display name.
func checkAddress(a mail.Address) (mail.Address, bool) {
	addr := a.Address
	if addr == "" || len(addr) > maxAddrLen || strings.ContainsFunc(addr, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ','
	}) {
		return a, false
	}
	p, err := mail.ParseAddress("<" + addr + ">")
	if err != nil || p.Address != addr {
		return a, false
	}
	return mail.Address{Name: cutUTF8(cleanText(a.Name), 200), Address: addr}, true
}

func formatAddresses(list []mail.Address) string {
	s := make([]string, len(list))
	for i := range list {
		s[i] = list[i].String()
	}
	return strings.Join(s, ", ")
}

// domainOf is the part after the last "@".
func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
