package mtasts

import (
	"strings"
	"testing"
)

// FuzzParse: policy bodies come from any https server a recipient domain
// names. Parse never panics, and what it accepts is consistent.
func FuzzParse(f *testing.F) {
	f.Add(enforce)
	f.Add("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n")
	f.Add("version: STSv1\nmode: testing\nmx: *.a.example\nmx: b.example.\nmax_age: 31557600\n")
	f.Fuzz(func(t *testing.T, body string) {
		p, err := Parse(body)
		if err != nil {
			return
		}
		if p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone {
			t.Fatalf("mode %q accepted", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge || (p.Mode != ModeNone && len(p.MX) == 0) {
			t.Fatalf("accepted %+v", p)
		}
		for _, mx := range p.MX {
			if mx != strings.ToLower(mx) {
				t.Fatalf("mx %q not lower case", mx)
			}
			p.Match(mx)
		}
	})
}

// FuzzParseRecord: TXT records come from the recipient domain's DNS.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=;;")
	f.Fuzz(func(t *testing.T, txt string) {
		id, ok, err := ParseRecord(txt)
		if err == nil && ok && (id == "" || len(id) > 32) {
			t.Fatalf("id %q accepted", id)
		}
	})
}
