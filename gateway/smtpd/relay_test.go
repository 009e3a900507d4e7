package smtpd

import (
	"strings"
	"testing"
)

func TestRcptChecks(t *testing.T) {
	cases := []struct {
		rcpt     string
		mailArgs string
		want     string // code and enhanced code prefix of the reply
	}{
		{rcpt: "<v@local>", want: "250"},
		{rcpt: "<V@Example.Org>", want: "250"},
		{rcpt: "v@local", want: "250"},
		{rcpt: "<v@other.example>", want: "550 5.7.1"},
		{rcpt: "<v%other.example@local>", want: "550 5.7.1"},
		{rcpt: "<@local:v@other.example>", want: "550 5.7.1"},
		{rcpt: "<@local,@x.example:v@local>", want: "550 5.7.1"},
		{rcpt: "<other.example!v@local>", want: "550 5.7.1"},
		{rcpt: `<"v@other.example"@local>`, want: "550 5.7.1"},
		{rcpt: `<"v%other"@local>`, want: "550 5.7.1"},
		{rcpt: `<"john doe"@local>`, want: "553 5.1.3"},
		{rcpt: "<v@other.example@local>", want: "550 5.7.1"},
		{rcpt: "<v@[192.0.2.1]>", want: "550 5.7.1"},
		{rcpt: "<v@[IPv6:2001:db8::1]>", want: "550 5.7.1"},
		{rcpt: "<v@local.>", want: "553 5.1.3"},
		{rcpt: "<v@-local>", want: "553 5.1.3"},
		{rcpt: "<v@lo_cal>", want: "553 5.1.3"},
		{rcpt: "<" + strings.Repeat("a", 65) + "@local>", want: "553 5.1.3"},
		{rcpt: "<v>", want: "501"},
		{rcpt: "<>", want: "501"},
		{rcpt: "<nouser@local>", want: "550 5.1.1"},
		{rcpt: "<nokey@local>", want: "550 5.7.1"},
		{rcpt: "<keytemp@local>", want: "451 4.7.0"},
		{rcpt: "<boom@local>", want: "451 4.3.0"},
		{rcpt: "<jörg@local>", want: "553 5.6.7"},
		{rcpt: "<v@bücher.example>", want: "553 5.6.7"},
		{rcpt: "<jörg@local>", mailArgs: " SMTPUTF8", want: "250"},
		{rcpt: "<jörg@other.example>", mailArgs: " SMTPUTF8", want: "550 5.7.1"},
		{rcpt: "<\xff@local>", mailArgs: " SMTPUTF8", want: "553 5.1.3"},
	}
	env := startServer(t, nil)
	c := env.greeted(t)
	for i, tc := range cases {
		t.Run(caseName(i, tc.rcpt), func(t *testing.T) {
			c.t = t
			c.cmd("RSET", 250)
			c.cmd("MAIL FROM:<a@sender.example>"+tc.mailArgs, 250)
			c.send("RCPT TO:" + tc.rcpt + "\r\n")
			_, lines := c.read()
			got := lines[len(lines)-1]
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("RCPT TO:%s: got %q, want %s", tc.rcpt, got, tc.want)
			}
			if strings.Contains(got, "hunter2") || strings.Contains(got, "10.0.0.1") {
				t.Fatalf("internal error text on the wire: %q", got)
			}
		})
	}
}

func TestMailChecks(t *testing.T) {
	cases := []struct{ mail, want string }{
		{"<>", "250"},
		{"<a@sender.example>", "250"},
		{"<@relay.example:a@sender.example>", "250"}, // RFC 5321 §4.1.1.2: ignored
		{"<jörg@sender.example>", "553 5.6.7"},
		{"<jörg@sender.example> SMTPUTF8", "250"},
		{"<a@b@sender.example>", "553 5.1.7"},
		{"<a@sender..example>", "553 5.1.7"},
		{"<a@sender.example> SIZE=41943041", "552 5.3.4"},
		{"<a@sender.example> SIZE=1000 BODY=8BITMIME", "250"},
		{"<a@sender.example> BODY=BINARYMIME", "504"},
		{"<a@sender.example> RET=FULL", "504"}, // DSN off by default
	}
	env := startServer(t, nil)
	c := env.greeted(t)
	for i, tc := range cases {
		t.Run(caseName(i, tc.mail), func(t *testing.T) {
			c.t = t
			c.cmd("RSET", 250)
			c.send("MAIL FROM:" + tc.mail + "\r\n")
			_, lines := c.read()
			if got := lines[len(lines)-1]; !strings.HasPrefix(got, tc.want) {
				t.Fatalf("MAIL FROM:%s: got %q, want %s", tc.mail, got, tc.want)
			}
		})
	}
}

func TestEnvelopeParams(t *testing.T) {
	env := startServer(t, func(c *Config) { c.EnableDSN = true })
	c := env.greeted(t)
	c.cmd("MAIL FROM:<jörg@sender.example> SMTPUTF8 BODY=8BITMIME SIZE=100 RET=HDRS ENVID=abc+2Bd", 250)
	c.cmd("RCPT TO:<v@local> NOTIFY=FAILURE,DELAY ORCPT=rfc822;v@local", 250)
	c.cmd("DATA", 354)
	c.send("Subject: é\r\n\r\nbody\r\n.\r\n")
	c.expect(250)
	m := env.sink.last()
	p := m.env.Params
	if !p.SMTPUTF8 || p.Body != "8BITMIME" || p.Size != 100 || p.Ret != "HDRS" || p.EnvID != "abc+d" {
		t.Fatalf("params %+v", p)
	}
	r := m.env.Recipients[0]
	if r.Addr != "v@local" || r.Route != "route:v" || strings.Join(r.Notify, ",") != "FAILURE,DELAY" || r.ORcpt != "v@local" {
		t.Fatalf("recipient %+v", r)
	}
	if m.env.From != "jörg@sender.example" || m.env.Session.Helo != "client.example" || m.env.Session.ID == "" {
		t.Fatalf("envelope %+v", m.env)
	}
	if !strings.HasPrefix(m.env.Received, "Received: from client.example ([127.0.0.1])\r\n\tby mx.example.org with UTF8SMTP id ") {
		t.Fatalf("received %q", m.env.Received)
	}
}
