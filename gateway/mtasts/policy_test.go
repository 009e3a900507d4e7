package mtasts

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
		want    Policy
	}{
		{name: "RFC 8461 §3.2 example", body: "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n" +
			"mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			want: Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"},
				MaxAge: 604800 * time.Second}},
		{name: "LF, spaces, unknown key", body: "version:STSv1\nmode :  testing\nmx: MX.Example.org.\nfoo: bar\nmax_age: 86400\n",
			want: Policy{Mode: ModeTesting, MX: []string{"mx.example.org"}, MaxAge: 86400 * time.Second}},
		{name: "none without mx", body: "version: STSv1\nmode: none\nmax_age: 0\n", want: Policy{Mode: ModeNone}},
		{name: "no version", body: "mode: enforce\nmx: a.example\nmax_age: 1\n", wantErr: true},
		{name: "other version", body: "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", wantErr: true},
		{name: "bad mode", body: "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", wantErr: true},
		{name: "enforce without mx", body: "version: STSv1\nmode: enforce\nmax_age: 1\n", wantErr: true},
		{name: "no max_age", body: "version: STSv1\nmode: enforce\nmx: a.example\n", wantErr: true},
		{name: "max_age too large", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", wantErr: true},
		{name: "garbage line", body: "version: STSv1\nmode enforce\n", wantErr: true},
		{name: "html", body: "<html>hello</html>", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.body)
			if tc.wantErr {
				if !errors.Is(err, ErrPolicy) {
					t.Fatalf("Parse = %+v, %v; want ErrPolicy", p, err)
				}
				return
			}
			if err != nil || p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || len(p.MX) != len(tc.want.MX) {
				t.Fatalf("Parse = %+v, %v; want %+v", p, err, tc.want)
			}
			for i := range p.MX {
				if p.MX[i] != tc.want.MX[i] {
					t.Errorf("mx[%d] = %q, want %q", i, p.MX[i], tc.want.MX[i])
				}
			}
		})
	}
}

func TestMatch(t *testing.T) {
	p := &Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "mx.example.net": true, "a.b.example.net": false,
		"example.net": false, "mail.example.com.evil": false, "evil.example.com": false, ".example.net": false,
	} {
		if got := p.Match(host); got != want {
			t.Errorf("Match(%s) = %v, want %v", host, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		txt     string
		wantID  string
		wantOK  bool
		wantErr bool
	}{
		{txt: "v=STSv1; id=20160831085700Z;", wantID: "20160831085700Z", wantOK: true},
		{txt: "v=STSv1;id=abc", wantID: "abc", wantOK: true},
		{txt: "v=spf1 -all"},
		{txt: "v=STSv1; id=", wantOK: true, wantErr: true},
		{txt: "v=STSv1; id=a-b", wantOK: true, wantErr: true},
		{txt: "v=STSv1; id=012345678901234567890123456789012", wantOK: true, wantErr: true},
	} {
		id, ok, err := ParseRecord(tc.txt)
		if id != tc.wantID || ok != tc.wantOK || (err != nil) != tc.wantErr {
			t.Errorf("ParseRecord(%q) = %q, %v, %v", tc.txt, id, ok, err)
		}
	}
}
