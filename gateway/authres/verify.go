package authres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Defaults for Config.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultMaxSignatures = 5
	// maxHeaderFields bounds the header fields scanned per message.
	maxHeaderFields = 1000
)

// Config configures a Verifier.
type Config struct {
	// Hostname is the authserv-id written in Authentication-Results and
	// the one whose fields StripOwn removes (RFC 8601 §2.5).
	Hostname string
	// Resolver answers TXT queries (DKIM keys, DMARC records); nil is the
	// system resolver. A test or an operator points it at one server.
	Resolver *net.Resolver
	// LookupTXT, if set, replaces Resolver (tests).
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Timeout bounds all DNS for one message; default DefaultTimeout.
	Timeout time.Duration
	// MaxSignatures is how many DKIM-Signature fields are checked, from
	// the top; the rest are ignored. Default DefaultMaxSignatures.
	MaxSignatures int
}

// Verifier checks DKIM and DMARC of incoming mail. It holds no mutable
// state and is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// New returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Hostname == "" {
		return nil, errors.New("authres: Hostname is required")
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxSignatures <= 0 {
		cfg.MaxSignatures = DefaultMaxSignatures
	}
	return &Verifier{cfg: cfg}, nil
}

// Verify checks the DKIM signatures of raw (a whole RFC 5322 message) and
// the DMARC alignment of its From domain. It never fails: DNS trouble is a
// TempError verdict, a malformed message at worst Fail.
func (v *Verifier) Verify(ctx context.Context, raw []byte) Result {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	lookup := v.txt(ctx)
	fields := scanHeader(raw, maxHeaderFields)
	sigs := v.checkDKIM(raw, fields, lookup)
	res := Result{DMARCPercent: 100}
	from, err := fromDomain(raw, fields)
	if err != nil { // RFC 7489 §6.6.1: no single author domain, DMARC cannot pass
		res.Verdict = Fail
		res.Header = header(v.cfg.Hostname, append(dkimMethods(sigs),
			method{name: "dmarc", value: "permerror", reason: "not exactly one From address"}))
		return res
	}
	res.FromDomain = from
	pol := lookupPolicy(from, lookup)
	res.DMARCPolicy, res.DMARCPercent = pol.policy, pol.percent
	evaluate(&res, sigs, pol)
	res.Header = header(v.cfg.Hostname, append(dkimMethods(sigs), pol.method(res.Verdict, from)))
	return res
}

// evaluate sets the DKIM and overall verdict fields of res.
func evaluate(res *Result, sigs []sigResult, pol policyResult) {
	temp, broken := pol.temp, false
	for _, s := range sigs {
		if !aligned(s.domain, res.FromDomain, pol.strict) {
			continue
		}
		switch s.value {
		case "pass":
			if !res.DKIMPass {
				res.DKIMPass, res.DKIMDomain, res.DKIMSelector = true, s.domain, s.selector
			}
		case "temperror":
			temp = true
		default:
			broken = true
		}
	}
	switch {
	case res.DKIMPass:
		res.Verdict = Pass
	case temp:
		res.Verdict = TempError
	case pol.found || broken:
		res.Verdict = Fail
	default:
		res.Verdict = None
	}
}

// sigResult is the outcome for one DKIM-Signature field.
type sigResult struct {
	domain, selector string
	value            string // RFC 8601 §2.7.1: pass, fail, temperror, permerror
	reason           string
}

// checkDKIM verifies the first MaxSignatures signatures of raw.
func (v *Verifier) checkDKIM(raw []byte, fields []field, lookup func(string) ([]string, error)) []sigResult {
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw),
		&dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: v.cfg.MaxSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) && len(verifs) == 0 {
		return nil // the header could not be read: no signature can pass
	}
	tags := signatureTags(raw, fields)
	out := make([]sigResult, 0, len(verifs))
	for i, vf := range verifs {
		if vf == nil {
			continue
		}
		s := sigResult{domain: strings.ToLower(vf.Domain), value: "pass"}
		if i < len(tags) && strings.EqualFold(tags[i]["d"], vf.Domain) {
			s.selector = tags[i]["s"]
		}
		switch {
		case vf.Err == nil:
		case dkim.IsTempFail(vf.Err):
			s.value, s.reason = "temperror", "key unavailable"
		case dkim.IsPermFail(vf.Err):
			s.value, s.reason = "permerror", "signature or key unusable"
		default:
			s.value, s.reason = "fail", "signature did not verify"
		}
		out = append(out, s)
	}
	return out
}

// signatureTags parses the tag lists of the DKIM-Signature fields, in order.
func signatureTags(raw []byte, fields []field) []map[string]string {
	var out []map[string]string
	for _, f := range fields {
		if !strings.EqualFold(f.name, "DKIM-Signature") {
			continue
		}
		tags := map[string]string{}
		for _, t := range strings.Split(f.value(raw), ";") {
			k, val, ok := strings.Cut(t, "=")
			if ok {
				tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
			}
		}
		out = append(out, tags)
	}
	return out
}

func dkimMethods(sigs []sigResult) []method {
	if len(sigs) == 0 {
		return []method{{name: "dkim", value: "none"}}
	}
	ms := make([]method, 0, len(sigs))
	for _, s := range sigs {
		ms = append(ms, method{name: "dkim", value: s.value, reason: s.reason,
			props: props(prop("header.d", s.domain), prop("header.s", s.selector))})
	}
	return ms
}

// txt returns the TXT lookup go-msgauth calls, bound to ctx. go-msgauth
// classifies errors by type assertion (net.Error.Temporary, *net.DNSError
// IsNotFound), so every error is handed over as a bare *net.DNSError, and
// one it cannot classify counts as temporary: unknown trouble must never
// turn into a failure that could reject mail.
func (v *Verifier) txt(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		var txts []string
		var err error
		if v.cfg.LookupTXT != nil {
			txts, err = v.cfg.LookupTXT(ctx, name)
		} else {
			txts, err = v.cfg.Resolver.LookupTXT(ctx, name)
		}
		if err == nil {
			return txts, nil
		}
		var de *net.DNSError
		if errors.As(err, &de) {
			if ctx.Err() != nil && !de.IsNotFound {
				cp := *de
				cp.IsTimeout = true
				return nil, &cp
			}
			return nil, de
		}
		return nil, &net.DNSError{Err: fmt.Sprintf("lookup: %v", err), Name: name,
			IsTimeout: ctx.Err() != nil, IsTemporary: true}
	}
}
