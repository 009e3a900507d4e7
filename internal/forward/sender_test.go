package forward

import (
	"context"
	"strings"
	"testing"

	"passerelle/gateway/authres"
	"passerelle/gateway/smtpd"
)

// TestSubmissionSenderBinding: a submission user may use only their own
// addresses as MAIL FROM (550 5.7.1 at MAIL) and header From (550 5.7.1
// at end of DATA); mail they may send is recorded as auth=pass for them,
// marked only when the user may send as anyone, and never teaches an
// Autocrypt key.
func TestSubmissionSenderBinding(t *testing.T) {
	for _, tc := range []struct {
		name      string
		user      string
		mailFrom  string
		head      string
		wantMail  bool // MAIL FROM refused
		wantData  bool // end of DATA refused
		wantMark  bool
		wantAuthR string
	}{
		{name: "own address", user: "alice@example.org", mailFrom: "alice@example.org", head: "From: Alice <Alice@Example.org>\r\n",
			wantAuthR: "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=alice@example.org\r\n"},
		{name: "forged envelope", user: "alice@example.org", mailFrom: "ceo@bank.example", wantMail: true},
		{name: "forged header", user: "alice@example.org", mailFrom: "alice@example.org", head: "From: ceo@bank.example\r\n", wantData: true},
		{name: "forged second From address", user: "alice@example.org", mailFrom: "alice@example.org",
			head: "From: alice@example.org, ceo@bank.example\r\n", wantData: true},
		{name: "two From fields", user: "alice@example.org", mailFrom: "alice@example.org",
			head: "From: alice@example.org\r\nFrom: ceo@bank.example\r\n", wantData: true},
		{name: "unreadable From", user: "alice@example.org", mailFrom: "alice@example.org", head: "From: ceo@bank.example (\r\n", wantData: true},
		{name: "no From: the envelope is the sender", user: "alice@example.org", mailFrom: "alice@example.org",
			wantAuthR: "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=alice@example.org\r\n"},
		{name: "null reverse path, no From: would be the gateway's mailer-daemon", user: "alice@example.org", wantData: true},
		{name: "login not an address owns nothing", user: "bob", mailFrom: "bob@example.org", wantMail: true},
		{name: "explicit empty list", user: "locked@example.org", mailFrom: "locked@example.org", wantMail: true},
		{name: "listed domain", user: "carol", mailFrom: "x@team.example", head: "From: y@Team.Example\r\n",
			wantAuthR: "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=carol\r\n"},
		{name: "listed domain, not its subdomain", user: "carol", mailFrom: "x@sub.team.example", wantMail: true},
		{name: "listed domain, foreign header", user: "carol", mailFrom: "carol@example.org", head: "From: ceo@bank.example\r\n", wantData: true},
		{name: "any address is marked", user: "relay", mailFrom: "ceo@bank.example", head: "From: ceo@bank.example\r\n", wantMark: true,
			wantAuthR: "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=relay\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &fakeSpool{}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			l := &fakeLearner{}
			f.cfg.Autocrypt, f.cfg.Verifier = l, &fakeVerifier{res: authres.Result{Verdict: authres.Pass, Header: "mx.example.org; dkim=pass"}}
			info := &smtpd.Info{AuthUser: tc.user, Mode: smtpd.ModeSubmission}
			txn, err := f.Mail(context.Background(), info, tc.mailFrom)
			info.Txn = txn
			if tc.wantMail {
				if got := smtpd.SMTPError(err); got == nil || got.Code != 550 || got.EnhancedCode != [3]int{5, 7, 1} {
					t.Fatalf("Mail(%q) = %v, want 550 5.7.1", tc.mailFrom, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Mail(%q): %v", tc.mailFrom, err)
			}
			route, err := f.Rcpt(context.Background(), info, tc.mailFrom, "alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			env := &smtpd.Envelope{From: tc.mailFrom, Session: *info, Received: "Received: from x by y; now\r\n",
				Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
			// The Autocrypt header names whatever From says.
			from := tc.mailFrom
			if _, v, ok := strings.Cut(tc.head, "From: "); ok {
				from = strings.TrimSpace(strings.Split(v, "\r\n")[0])
			}
			mail := tc.head + "To: alice@example.org\r\nAutocrypt: addr=" + from + "; keydata=AAAA\r\nSubject: s\r\n\r\nhi\r\n"
			err = f.Accept(context.Background(), env, []byte(mail))
			if tc.wantData {
				if got := smtpd.SMTPError(err); got == nil || got.Code != 550 || got.EnhancedCode != [3]int{5, 7, 1} {
					t.Fatalf("Accept = %v, want 550 5.7.1", got)
				}
				if sp.env != nil {
					t.Fatal("refused mail was spooled")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.calls) != 0 {
				t.Errorf("submission taught an Autocrypt key: %+v", l.calls)
			}
			p := openSpooled(t, sp)
			if got := strings.HasPrefix(p.Body, "⚠ Warning"); got != tc.wantMark {
				t.Errorf("marked = %v, want %v: %q", got, tc.wantMark, p.Body)
			}
			if raw := string(p.Mail.Raw); !strings.HasPrefix(raw, tc.wantAuthR+"Received: ") {
				t.Errorf("stored mail does not start with %q:\n%s", tc.wantAuthR, raw)
			}
		})
	}
}
