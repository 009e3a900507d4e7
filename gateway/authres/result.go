package authres

import "strings"

// Verdict is the overall answer to "did the From domain send this?".
type Verdict string

// Verdicts.
const (
	// Pass: a DKIM signature of a domain aligned with From verified.
	Pass Verdict = "pass"
	// Fail: the From domain publishes DMARC and nothing aligned passed, or
	// an aligned signature is broken (forged, or modified in transit).
	Fail Verdict = "fail"
	// None: no aligned signature and no DMARC record: nothing to go on.
	None Verdict = "none"
	// TempError: a DNS answer needed to decide did not come in time.
	TempError Verdict = "temperror"
)

// Policy is the DMARC policy the From domain publishes (RFC 7489 §6.3 p=,
// or sp= when the record was found at the organizational domain).
type Policy string

// Policies; PolicyAbsent means no DMARC record was found.
const (
	PolicyAbsent     Policy = ""
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// Result is what Verify found out about one message.
type Result struct {
	FromDomain string // the RFC 5322 From domain, lower case; "" without exactly one
	// DKIMPass is true when a signature of a domain aligned with
	// FromDomain verified; DKIMDomain and DKIMSelector are its d= and s=.
	DKIMPass     bool
	DKIMDomain   string
	DKIMSelector string
	DMARCPolicy  Policy
	DMARCPercent int // pct=, 100 when absent (RFC 7489 §6.3)
	Verdict      Verdict
	// Header is the Authentication-Results field value (RFC 8601 §2.2),
	// unfolded, starting with the configured hostname as authserv-id.
	Header string
}

// RejectedByPolicy reports whether the From domain asks receivers to
// reject this message: DMARC failed (not a temperror) and the domain
// publishes p=reject for all its mail (pct=100; RFC 7489 §6.6.4).
func (r Result) RejectedByPolicy() bool {
	return r.Verdict == Fail && r.DMARCPolicy == PolicyReject && r.DMARCPercent >= 100
}

// Field returns the whole header field, folded before each result and
// CRLF-terminated, ready to prepend to the message (RFC 8601 §5: at the
// top, like trace fields).
func (r Result) Field() string {
	return FieldName + ": " + strings.ReplaceAll(r.Header, "; ", ";\r\n\t") + "\r\n"
}

// method is one "method=result" clause of the header field.
type method struct {
	name    string
	value   string
	reason  string   // our own fixed text, never message content
	comment string   // cleaned
	props   []string // "ptype.property=value", values cleaned
}

func (m method) String() string {
	var b strings.Builder
	b.WriteString(m.name + "=" + m.value)
	if m.comment != "" {
		b.WriteString(" (" + m.comment + ")")
	}
	if m.reason != "" {
		b.WriteString(` reason="` + m.reason + `"`)
	}
	for _, p := range m.props {
		b.WriteString(" " + p)
	}
	return b.String()
}

// header formats the field value: "host; dkim=...; dmarc=...".
func header(hostname string, ms []method) string {
	parts := []string{hostname}
	for _, m := range ms {
		parts = append(parts, m.String())
	}
	return strings.Join(parts, "; ")
}

// prop returns "name=value" with value cleaned, or "" when nothing is left.
func prop(name, value string) string {
	if v := clean(value); v != "" {
		return name + "=" + v
	}
	return ""
}

func props(ps ...string) []string {
	out := ps[:0]
	for _, p := range ps {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// SubmissionField is the Authentication-Results field for mail submitted
// by an authenticated user (RFC 8601 §2.7.4: method "auth", property
// smtp.auth = the authenticated identity), whose From the caller has
// bound to that user.
func SubmissionField(hostname, user string) string {
	m := method{name: "auth", value: "pass"}
	if u := authIdentity(user); u != "" {
		m.props = []string{"smtp.auth=" + u}
	}
	return Result{Header: header(hostname, []method{m})}.Field()
}

// NoneField is the Authentication-Results field for mail whose sender was
// not checked at all (RFC 8601 §2.2: "none").
func NoneField(hostname string) string {
	return FieldName + ": " + hostname + "; none\r\n"
}

// authIdentity cleans a login name for smtp.auth: a token, or an address
// whose local part and domain are tokens (RFC 8601 §2.2 pvalue).
func authIdentity(user string) string {
	local, domain, ok := strings.Cut(user, "@")
	if !ok {
		return clean(user)
	}
	l, d := clean(local), clean(domain)
	if l == "" || d == "" || strings.Contains(domain, "@") {
		return clean(strings.ReplaceAll(user, "@", ""))
	}
	return l + "@" + d
}
