package smtpd

import (
	"strings"
	"unicode/utf8"
)

// go-smtp unquotes local parts and drops source routes before calling the
// session, so these checks read the path from the raw command line.

// rawPath returns the path argument of a MAIL FROM:/RCPT TO: line as sent,
// brackets included, parameters excluded.
func rawPath(line, prefix string) string {
	i := strings.Index(strings.ToUpper(line), prefix)
	if i < 0 {
		return ""
	}
	s := strings.TrimLeft(line[i+len(prefix):], " ")
	quoted := false
	for j := 0; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\\' && quoted:
			j++
		case c == '"':
			quoted = !quoted
		case (c == '>' || c == ' ') && !quoted:
			return s[:j+boolInt(c == '>')]
		}
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkRcptPath refuses relay tricks and bad syntax in a RCPT path.
// Relay forms get 550 5.7.1, syntax errors 553 5.1.3, RFC 6531 §3.4 5.6.7.
func checkRcptPath(raw string, utf8ok bool) error {
	p := strings.TrimSuffix(strings.TrimPrefix(raw, "<"), ">")
	if strings.HasPrefix(p, "@") {
		return errSourceRoute // RFC 5321 §4.1.1.3 allows ignoring it; we refuse
	}
	if err := checkEncoding(p, utf8ok, errRcptSyntax); err != nil {
		return err
	}
	if strings.HasPrefix(p, "\"") {
		if strings.ContainsAny(p[:strings.LastIndexByte(p, '"')+1], "@%!") {
			return errRelaySyntax
		}
		return errQuoted
	}
	local, domain, ok := strings.Cut(p, "@")
	switch {
	case !ok || local == "" || len(local) > 64 || len(p) > 254:
		return errRcptSyntax
	case strings.ContainsAny(local, "%!"), strings.Contains(domain, "@"):
		return errRelaySyntax
	case strings.HasPrefix(domain, "["):
		return errAddrLiteral
	case !validDomain(domain):
		return errRcptSyntax
	}
	return nil
}

// checkMailPath checks a MAIL path: encoding and one well-formed domain.
// Source routes are ignored as RFC 5321 §4.1.1.2 asks.
func checkMailPath(raw string, utf8ok bool) error {
	p := strings.TrimSuffix(strings.TrimPrefix(raw, "<"), ">")
	if p == "" {
		return nil // null reverse path
	}
	if i := strings.IndexByte(p, ':'); strings.HasPrefix(p, "@") && i > 0 {
		p = p[i+1:]
	}
	if err := checkEncoding(p, utf8ok, errMailSyntax); err != nil {
		return err
	}
	at := strings.LastIndexByte(p, '@')
	if at <= 0 || len(p) > 254 {
		return errMailSyntax
	}
	if d := p[at+1:]; !strings.HasPrefix(d, "[") && !validDomain(d) {
		return errMailSyntax
	}
	if !strings.HasPrefix(p, "\"") && strings.Count(p, "@") > 1 {
		return errMailSyntax
	}
	return nil
}

func checkEncoding(p string, utf8ok bool, syntax error) error {
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return syntax
		}
		if p[i] >= 0x80 {
			if !utf8.ValidString(p) {
				return syntax
			}
			if !utf8ok {
				return errNeedSMTPUTF8
			}
			return nil
		}
	}
	return nil
}

// validDomain accepts LDH labels and, for SMTPUTF8, UTF-8 U-labels.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			ok := r == '-' || r >= 0x80 || (r|0x20 >= 'a' && r|0x20 <= 'z') || (r >= '0' && r <= '9')
			if !ok {
				return false
			}
		}
	}
	return true
}
