package peerrec

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// query asks the server for domain's TXT records and picks the gateway
// record. It returns the answer's smallest TTL.
func (r *Resolver) query(ctx context.Context, domain string) (Result, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	qname := Name(domain)
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeTXT)
	m.AuthenticatedData = true // RFC 6840 §5.7: we understand AD
	m.SetEdns0(1232, false)
	in, err := r.exchange(ctx, m)
	if err != nil {
		return Result{}, 0, err
	}
	return pick(in, qname)
}

// pick reads the gateway record out of the answer to qname's TXT query.
func pick(in *dns.Msg, qname string) (Result, time.Duration, error) {
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return Result{}, 0, nil
	default:
		return Result{}, 0, fmt.Errorf("%w: %s TXT: %s", ErrTemporary, qname, dns.RcodeToString[in.Rcode])
	}
	txts, ttl := answerTXT(in, qname)
	var found []string
	for _, t := range txts {
		if IsRecord(t) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return Result{}, 0, nil
	case 1:
	default:
		return Result{}, 0, fmt.Errorf("%w: %s has %d gateway records", ErrMalformed, qname, len(found))
	}
	rec, err := Parse(found[0])
	if err != nil {
		return Result{}, 0, fmt.Errorf("%s: %w", qname, err)
	}
	return Result{Found: true, Record: rec, Authenticated: in.AuthenticatedData}, ttl, nil
}

// exchange sends m over UDP and again over TCP when the answer is
// truncated (RFC 7766 §5).
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	in, _, err := c.ExchangeContext(ctx, m, r.cfg.Server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.cfg.Server)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s TXT via %s: %v", ErrTemporary, m.Question[0].Name, r.cfg.Server, err)
	}
	if in.Truncated {
		return nil, fmt.Errorf("%w: %s TXT via %s: truncated over TCP", ErrTemporary, m.Question[0].Name, r.cfg.Server)
	}
	return in, nil
}

// answerTXT returns the texts of the TXT records owned by qname or by the
// end of a CNAME chain from it (RFC 1034 §3.6.2), and the smallest TTL on
// that path.
func answerTXT(in *dns.Msg, qname string) ([]string, time.Duration) {
	owner := strings.ToLower(qname)
	ttl := uint32(1<<31 - 1)
	for range 8 { // bounded CNAME chain
		next := ""
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
				next, ttl = strings.ToLower(c.Target), min(ttl, c.Hdr.Ttl)
			}
		}
		if next == "" {
			break
		}
		owner = next
	}
	var txts []string
	for _, rr := range in.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, owner) {
			txts = append(txts, strings.Join(t.Txt, ""))
			ttl = min(ttl, t.Hdr.Ttl)
		}
	}
	return txts, time.Duration(ttl) * time.Second
}
