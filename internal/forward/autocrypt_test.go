package forward

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"passerelle/gateway/authres"
	"passerelle/gateway/smtpd"
)

type learnCall struct {
	from    string
	date    time.Time
	headers []string
}

type fakeLearner struct {
	calls []learnCall
	err   error
}

func (l *fakeLearner) Learn(_ context.Context, from string, date time.Time, headers []string) error {
	l.calls = append(l.calls, learnCall{from, date, headers})
	return l.err
}

func TestAcceptLearnsAutocrypt(t *testing.T) {
	const ac = "addr=bob@remote.example; keydata=\r\n AAAA"
	const unfolded = "addr=bob@remote.example; keydata= AAAA"
	date := "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n"
	tests := []struct {
		name      string
		head      string
		spoolErr  error
		learnErr  error
		wantCalls int
		wantFrom  string
		wantVals  []string
	}{
		{name: "remote sender with header", head: "From: Bob <Bob@Remote.example>\r\n" + date + "Autocrypt: " + ac + "\r\n",
			wantCalls: 1, wantFrom: "Bob@Remote.example", wantVals: []string{unfolded}},
		{name: "remote sender without header", head: "From: bob@remote.example\r\n" + date, wantCalls: 1, wantFrom: "bob@remote.example"},
		{name: "two headers passed on", head: "From: bob@remote.example\r\nAutocrypt: a=1\r\nAutocrypt: b=2\r\n",
			wantCalls: 1, wantFrom: "bob@remote.example", wantVals: []string{"a=1", "b=2"}},
		{name: "local sender", head: "From: carol@example.org\r\nAutocrypt: addr=carol@example.org; keydata=AAAA\r\n"},
		{name: "two From addresses", head: "From: bob@remote.example, eve@evil.example\r\nAutocrypt: " + ac + "\r\n"},
		{name: "two From fields", head: "From: bob@remote.example\r\nFrom: eve@evil.example\r\nAutocrypt: " + ac + "\r\n"},
		{name: "not spooled: not learned", head: "From: bob@remote.example\r\nAutocrypt: " + ac + "\r\n", spoolErr: errors.New("disk")},
		{name: "learn error does not refuse", head: "From: bob@remote.example\r\nAutocrypt: " + ac + "\r\n",
			learnErr: errors.New("disk"), wantCalls: 1, wantFrom: "bob@remote.example", wantVals: []string{unfolded}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := &fakeSpool{err: tc.spoolErr}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			l := &fakeLearner{err: tc.learnErr}
			f.cfg.Autocrypt, f.cfg.Verifier = l, &fakeVerifier{res: authres.Result{Verdict: authres.Pass, Header: "h"}}
			env := &smtpd.Envelope{From: "bob@remote.example"}
			route, err := f.Rcpt(context.Background(), &smtpd.Info{}, env.From, "alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			env.Recipients = []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}
			err = f.Accept(context.Background(), env, []byte(tc.head+"To: alice@example.org\r\nSubject: hi\r\n\r\nbody\r\n"))
			if (err != nil) != (tc.spoolErr != nil) {
				t.Fatalf("case %d: Accept = %v", i, err)
			}
			if len(l.calls) != tc.wantCalls {
				t.Fatalf("case %d: %d Learn calls, want %d", i, len(l.calls), tc.wantCalls)
			}
			if tc.wantCalls == 0 {
				return
			}
			c := l.calls[0]
			if c.from != tc.wantFrom || !slices.Equal(c.headers, tc.wantVals) {
				t.Errorf("case %d: Learn(%q, %v, %q)", i, c.from, c.date, c.headers)
			}
			if wantDate := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC); strings.Contains(tc.head, "Date:") && !c.date.Equal(wantDate) {
				t.Errorf("case %d: date %v, want %v", i, c.date, wantDate)
			}
		})
	}
}

// TestUnverifiedSenderTeachesNoKey: with verification on, only mail whose
// From passed DKIM/DMARC may teach an Autocrypt key.
func TestUnverifiedSenderTeachesNoKey(t *testing.T) {
	for _, tc := range []struct {
		verdict   authres.Verdict
		wantCalls int
	}{
		{authres.Pass, 1},
		{authres.None, 0},
		{authres.Fail, 0},
		{authres.TempError, 0},
	} {
		t.Run(string(tc.verdict), func(t *testing.T) {
			sp := &fakeSpool{}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			l := &fakeLearner{}
			f.cfg.Autocrypt, f.cfg.Verifier = l, &fakeVerifier{res: authres.Result{Verdict: tc.verdict, Header: "h"}}
			route, err := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			env := &smtpd.Envelope{From: "bob@remote.example", Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
			mail := "From: bob@remote.example\r\nAutocrypt: addr=bob@remote.example; keydata=AAAA\r\n\r\nhi\r\n"
			if err := f.Accept(context.Background(), env, []byte(mail)); err != nil {
				t.Fatal(err)
			}
			if len(l.calls) != tc.wantCalls {
				t.Fatalf("verdict %s: %d Learn calls, want %d", tc.verdict, len(l.calls), tc.wantCalls)
			}
		})
	}
}

// TestNoVerifierTeachesNoKey: inbound.verify = false means nothing was
// verified, so every MX sender is unverified: marked, "none" recorded,
// and no Autocrypt key learned (it would redirect replies to a forger).
func TestNoVerifierTeachesNoKey(t *testing.T) {
	sp := &fakeSpool{}
	f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
	l := &fakeLearner{}
	f.cfg.Autocrypt = l
	route, err := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	env := &smtpd.Envelope{From: "bob@remote.example", Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
	mail := "From: bob@remote.example\r\nAutocrypt: addr=bob@remote.example; keydata=AAAA\r\n\r\nhi\r\n"
	if err := f.Accept(context.Background(), env, []byte(mail)); err != nil {
		t.Fatal(err)
	}
	if len(l.calls) != 0 {
		t.Fatalf("%d Learn calls without a verifier, want 0", len(l.calls))
	}
	p := openSpooled(t, sp)
	if !strings.HasPrefix(p.Body, unverifiedNotice("bob@remote.example")) {
		t.Errorf("not marked unverified: %q", p.Body)
	}
	if raw := string(p.Mail.Raw); !strings.HasPrefix(raw, "Authentication-Results: mx.example.org; none\r\n") {
		t.Errorf("no \"none\" result recorded:\n%s", raw)
	}
}
