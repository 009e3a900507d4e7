package authres

import (
	"errors"
	"fmt"
	"strings"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

var errNoAuthor = errors.New("authres: not exactly one From address")

// fromDomain returns the domain of the single RFC 5322 From address, in
// lower-case A-labels (RFC 7489 §6.6.1).
func fromDomain(raw []byte, fields []field) (string, error) {
	var value string
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.name, "From") {
			value, n = f.value(raw), n+1
		}
	}
	if n != 1 {
		return "", errNoAuthor
	}
	addrs, err := gomail.ParseAddressList(value)
	if err != nil || len(addrs) != 1 {
		return "", errNoAuthor
	}
	i := strings.LastIndexByte(addrs[0].Address, '@')
	if i < 0 {
		return "", errNoAuthor
	}
	d, err := idna.Lookup.ToASCII(strings.TrimSuffix(addrs[0].Address[i+1:], "."))
	if err != nil || d == "" {
		return "", fmt.Errorf("authres: From domain: %w", errNoAuthor)
	}
	return strings.ToLower(d), nil
}

// orgDomain is the organizational domain (RFC 7489 §3.2): the public
// suffix plus one label, from the list compiled into x/net/publicsuffix.
func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// aligned reports DKIM identifier alignment (RFC 7489 §3.1.1): strict
// needs the same domain, relaxed the same organizational domain.
func aligned(sigDomain, from string, strict bool) bool {
	if sigDomain == "" || from == "" {
		return false
	}
	if strict {
		return strings.EqualFold(sigDomain, from)
	}
	return orgDomain(sigDomain) == orgDomain(from)
}

// policyResult is what DMARC policy discovery found.
type policyResult struct {
	found   bool
	temp    bool
	perm    bool // a record was there but could not be parsed
	strict  bool // adkim=s
	policy  Policy
	percent int
}

// lookupPolicy discovers the DMARC record of from (RFC 7489 §6.6.3): at
// the From domain, else at its organizational domain, whose sp= then
// applies.
func lookupPolicy(from string, lookup func(string) ([]string, error)) policyResult {
	opts := &dmarc.LookupOptions{LookupTXT: lookup}
	rec, err := dmarc.LookupWithOptions(from, opts)
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := orgDomain(from); org != from {
			rec, err = dmarc.LookupWithOptions(org, opts)
			sub = true
		}
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return policyResult{percent: 100}
	case dmarc.IsTempFail(err):
		return policyResult{temp: true, percent: 100}
	case err != nil || rec == nil: // unparsable: as if absent (§6.6.3)
		return policyResult{perm: true, percent: 100}
	}
	p := policyResult{found: true, strict: rec.DKIMAlignment == dmarc.AlignmentStrict,
		policy: Policy(rec.Policy), percent: 100}
	if sub && rec.SubdomainPolicy != "" {
		p.policy = Policy(rec.SubdomainPolicy)
	}
	if rec.Percent != nil {
		p.percent = *rec.Percent
	}
	return p
}

// method is the dmarc clause of the header field for verdict.
func (p policyResult) method(verdict Verdict, from string) method {
	m := method{name: "dmarc", props: props(prop("header.from", from))}
	switch {
	case p.temp:
		m.value = "temperror"
	case verdict == Pass && p.found:
		m.value = "pass"
	case p.perm:
		m.value, m.reason = "permerror", "unreadable DMARC record"
	case p.found:
		m.value = "fail"
	default:
		m.value = "none"
	}
	if p.found {
		m.comment = "p=" + string(p.policy)
	}
	return m
}
