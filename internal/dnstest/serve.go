package dnstest

import (
	"github.com/miekg/dns"
)

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := canon(q.Name)
	udp := w.LocalAddr().Network() == "udp"
	m, drop := s.answer(req, name, q.Qtype, udp)
	if drop {
		return
	}
	if udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// answer builds the reply to one question under the lock; drop means send
// nothing.
func (s *Server) answer(req *dns.Msg, name string, qtype uint16, udp bool) (*dns.Msg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[name+"/"+dns.TypeToString[qtype]]++
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch s.fail[name] {
	case Timeout:
		return nil, true
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		return m, false
	case Refused:
		m.Rcode = dns.RcodeRefused
		return m, false
	case Truncate:
		if udp {
			m.Truncated = true
			return m, false
		}
	}
	ad, ok := s.adName[name]
	if !ok {
		ad = s.adAll
	}
	m.AuthenticatedData = ad
	if _, ok := s.rrs[name]; !ok {
		m.Rcode = dns.RcodeNameError
		return m, false
	}
	// As a recursive resolver answers: a CNAME and what its target has
	// (RFC 1034 §3.6.2), the chain bounded.
	for range 8 {
		next := ""
		for _, rr := range s.rrs[name] {
			switch {
			case rr.Header().Rrtype == qtype || qtype == dns.TypeANY:
				m.Answer = append(m.Answer, dns.Copy(rr))
			case rr.Header().Rrtype == dns.TypeCNAME:
				m.Answer = append(m.Answer, dns.Copy(rr))
				next = canon(rr.(*dns.CNAME).Target)
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
	}
	return m, false
}
