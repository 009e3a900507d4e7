package peerrec

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
)

// FuzzPick: whatever DNS answer arrives, choosing the record out of it
// never panics, and errors are ErrTemporary or ErrMalformed.
func FuzzPick(f *testing.F) {
	const qname = "_passerelle.b.example."
	for _, rrs := range [][]string{
		{qname + " 60 IN TXT \"v=passerelle1; jid=mail.b.example; fp=0123456789abcdef0123456789abcdef01234567; policy=strict; ttl=60\""},
		{qname + " 60 IN CNAME x.example.", "x.example. 30 IN TXT \"v=passerelle1\""},
		{qname + " 60 IN TXT \"v=spf1 -all\"", qname + " 60 IN TXT \"v=passerelle1;\" \"x=y\""},
	} {
		m := new(dns.Msg)
		m.SetQuestion(qname, dns.TypeTXT)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		in := new(dns.Msg)
		if in.Unpack(wire) != nil {
			return
		}
		res, _, err := pick(in, qname)
		if err != nil && !errors.Is(err, ErrTemporary) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
		if err == nil && res.Found {
			if verr := res.Record.Validate(); verr != nil {
				t.Fatalf("picked an invalid record: %v", verr)
			}
		}
	})
}
