package dane

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrLookup wraps a lookup that failed (SERVFAIL, timeout, a truncated
// answer over TCP): a validating resolver answers SERVFAIL for bogus
// data, so the host must not be used as if it had no records.
var ErrLookup = errors.New("dane: lookup failed")

// Resolver asks one validating resolver and believes its AD bit.
type Resolver struct {
	Server  string        // host:port of the resolver; on loopback or a trusted path
	Timeout time.Duration // each query; 0: 5 seconds
}

// SecureMX reports whether the answer to domain's MX query (records,
// NODATA or NXDOMAIN alike) is DNSSEC-validated.
func (r *Resolver) SecureMX(ctx context.Context, domain string) (bool, error) {
	in, err := r.query(ctx, dns.Fqdn(domain), dns.TypeMX)
	if err != nil {
		return false, err
	}
	return in.AuthenticatedData, nil
}

// TLSA returns the TLSA records of host's SMTP service on port
// (_port._tcp.host, RFC 6698 §3), following a CNAME chain, and whether the
// answer is DNSSEC-validated. No records is nil, nil error.
func (r *Resolver) TLSA(ctx context.Context, host string, port int) ([]Record, bool, error) {
	qname := "_" + strconv.Itoa(port) + "._tcp." + dns.Fqdn(strings.ToLower(host))
	in, err := r.query(ctx, qname, dns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	owner := qname
	for range 8 {
		next := ""
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" {
			break
		}
		owner = next
	}
	var recs []Record
	for _, rr := range in.Answer {
		if t, ok := rr.(*dns.TLSA); ok && strings.EqualFold(t.Hdr.Name, owner) {
			data, err := hex.DecodeString(t.Certificate)
			if err != nil {
				continue // unusable, as a record of an unknown type would be
			}
			recs = append(recs, Record{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
		}
	}
	return recs, in.AuthenticatedData, nil
}

func (r *Resolver) query(ctx context.Context, qname string, qtype uint16) (*dns.Msg, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.AuthenticatedData = true // RFC 6840 §5.7: we understand AD
	m.SetEdns0(1232, true)     // DO: ask for DNSSEC processing
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	in, _, err := c.ExchangeContext(ctx, m, r.Server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.Server)
	}
	name := qname + " " + dns.TypeToString[qtype]
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s via %s: %v", ErrLookup, name, r.Server, err)
	case in.Truncated:
		return nil, fmt.Errorf("%w: %s via %s: truncated over TCP", ErrLookup, name, r.Server)
	case in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError:
		return nil, fmt.Errorf("%w: %s via %s: %s", ErrLookup, name, r.Server, dns.RcodeToString[in.Rcode])
	}
	return in, nil
}
