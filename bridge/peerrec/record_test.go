package peerrec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	fp4 = "0123456789abcdef0123456789abcdef01234567"
	fp6 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestParse(t *testing.T) {
	good := "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=86400"
	cases := []struct {
		name    string
		txt     string
		wantErr string // substring; "" = parses
		wantJID string
		wantFP  int
		wantPol Policy
		wantTTL time.Duration
	}{
		{name: "canonical", txt: good, wantJID: "mail.b.example", wantFP: 20, wantPol: Strict, wantTTL: 24 * time.Hour},
		{name: "v6 fingerprint, mixed, trailing semicolon", txt: "v=passerelle1;jid=mail.b.example;fp=" + fp6 + ";policy=mixed;ttl=60;", wantJID: "mail.b.example", wantFP: 32, wantPol: Mixed, wantTTL: time.Minute},
		{name: "spaces and tabs around tags", txt: "v=passerelle1 ;\tjid = mail.b.example ; fp=" + strings.ToUpper(fp4) + " ;policy=strict; ttl=3600 ", wantJID: "mail.b.example", wantFP: 20, wantPol: Strict, wantTTL: time.Hour},
		{name: "unknown tag ignored", txt: good + "; x-future=anything,goes", wantJID: "mail.b.example", wantFP: 20, wantPol: Strict, wantTTL: 24 * time.Hour},
		{name: "empty", txt: "", wantErr: "no '='"},
		{name: "v not first", txt: "jid=mail.b.example; v=passerelle1; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "first tag is not v"},
		{name: "other version", txt: "v=passerelle2; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "version"},
		{name: "version case", txt: "v=Passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "version"},
		{name: "duplicate tag", txt: good + "; policy=mixed", wantErr: "repeated"},
		{name: "duplicate unknown tag", txt: good + "; x=1; x=2", wantErr: "repeated"},
		{name: "missing jid", txt: "v=passerelle1; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "jid missing"},
		{name: "missing fp", txt: "v=passerelle1; jid=mail.b.example; policy=strict; ttl=60", wantErr: "fp missing"},
		{name: "missing policy", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; ttl=60", wantErr: "policy missing"},
		{name: "missing ttl", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict", wantErr: "ttl missing"},
		{name: "empty tag in middle", txt: "v=passerelle1;; jid=mail.b.example", wantErr: "no '='"},
		{name: "two trailing semicolons", txt: good + ";;", wantErr: "no '='"},
		{name: "empty value", txt: good + "; x=", wantErr: "bad value"},
		{name: "space inside value", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=60 0", wantErr: "bad value"},
		{name: "upper-case name", txt: "v=passerelle1; JID=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "bad name"},
		{name: "non-ASCII value", txt: good + "; x=é", wantErr: "bad value"},
		{name: "short fingerprint", txt: "v=passerelle1; jid=mail.b.example; fp=0123; policy=strict; ttl=60", wantErr: "hex digits"},
		{name: "non-hex fingerprint", txt: "v=passerelle1; jid=mail.b.example; fp=" + strings.Repeat("g", 40) + "; policy=strict; ttl=60", wantErr: "not hex"},
		{name: "unknown policy", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=lax; ttl=60", wantErr: "policy"},
		{name: "ttl zero", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=0", wantErr: "ttl"},
		{name: "ttl leading zero", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=060", wantErr: "leading zero"},
		{name: "ttl under a minute", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=59", wantErr: "outside"},
		{name: "ttl over a year", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=31536001", wantErr: "outside"},
		{name: "ttl sign", txt: "v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=+60", wantErr: "ttl"},
		{name: "jid with localpart", txt: "v=passerelle1; jid=gw@mail.b.example; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "not a domain JID"},
		{name: "jid with resource", txt: "v=passerelle1; jid=mail.b.example/r; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "not a domain JID"},
		{name: "jid not canonical", txt: "v=passerelle1; jid=MAIL.b.example; fp=" + fp4 + "; policy=strict; ttl=60", wantErr: "canonical"},
		{name: "too long", txt: good + "; x=" + strings.Repeat("a", MaxLen), wantErr: "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.txt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.JID != tc.wantJID || len(r.Fingerprint) != tc.wantFP || r.Policy != tc.wantPol || r.TTL != tc.wantTTL {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	r := Record{JID: "mail.b.example", Fingerprint: bytes.Repeat([]byte{0xab}, 32), Policy: Mixed, TTL: 2 * time.Hour}
	want := "v=passerelle1; jid=mail.b.example; fp=" + strings.Repeat("ab", 32) + "; policy=mixed; ttl=7200"
	if got := r.String(); got != want {
		t.Fatalf("String = %q\nwant %q", got, want)
	}
	back, err := ParseTXT([]string{want[:10], want[10:]})
	if err != nil || !equal(back, r) {
		t.Fatalf("ParseTXT(String()) = %+v, %v", back, err)
	}
}

func TestIsRecord(t *testing.T) {
	for txt, want := range map[string]bool{
		"v=passerelle1; jid=x": true, "v=passerelle1": true, "v=passerelle1\tx": true,
		"v=passerelle10; jid=x": false, "v=spf1 -all": false, " v=passerelle1": false,
	} {
		if got := IsRecord(txt); got != want {
			t.Errorf("IsRecord(%q) = %v, want %v", txt, got, want)
		}
	}
}

func equal(a, b Record) bool {
	return a.JID == b.JID && bytes.Equal(a.Fingerprint, b.Fingerprint) && a.Policy == b.Policy && a.TTL == b.TTL
}

// FuzzParse: Parse never panics; whatever it accepts validates, and its
// String form parses back to the same record.
func FuzzParse(f *testing.F) {
	f.Add("v=passerelle1; jid=mail.b.example; fp=" + fp4 + "; policy=strict; ttl=86400")
	f.Add("v=passerelle1;jid=mail.b.example;fp=" + fp6 + ";policy=mixed;ttl=60;x=y;")
	f.Add("v=passerelle1; jid=; fp=; policy=; ttl=")
	f.Add("v=spf1 -all")
	f.Fuzz(func(t *testing.T, txt string) {
		r, err := Parse(txt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse accepted %q but Validate: %v", txt, err)
		}
		back, err := Parse(r.String())
		if err != nil || !equal(back, r) {
			t.Fatalf("round trip of %q: %+v, %v", txt, back, err)
		}
	})
}
