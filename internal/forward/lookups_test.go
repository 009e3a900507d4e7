package forward

import (
	"context"
	"fmt"
	"testing"
	"time"

	"passerelle/gateway/smtpd"
	"passerelle/policy"
)

// cachedKeys answers Cached from a set, and counts Resolve calls.
type cachedKeys struct {
	countingKeys
	cached map[string]bool
}

func (c *cachedKeys) Cached(addr string) bool { return c.cached[addr] }

// TestRcptLookupLimits: an MX client can make the gateway look up at most
// PerTransaction uncached keys per transaction (452 4.5.3 after) and Burst
// per client network, refilled at PerMinute (451 4.7.1 after); cached
// answers and submission users are not charged; a refused RCPT looks
// nothing up.
func TestRcptLookupLimits(t *testing.T) {
	pol, err := policy.New(policy.Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := &cachedKeys{cached: map[string]bool{"cached@example.org": true}}
	f, err := New(Config{Policy: pol, Keys: k, Puppets: fakePuppets{}, Spool: &fakeSpool{},
		ComponentDomain: "mail.example.org", Hostname: "mx.example.org", Now: func() time.Time { return now },
		Lookups: LookupLimits{PerMinute: 60, Burst: 25, PerTransaction: 10}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	rcpt := func(s *smtpd.Info, to string) *smtpdReply {
		t.Helper()
		if to == "" {
			n++
			to = fmt.Sprintf("u%d@example.org", n)
		}
		_, err := f.Rcpt(ctx, s, "bob@remote.example", to)
		if r := smtpd.SMTPError(err); r != nil {
			return &smtpdReply{r.Code, [3]int(r.EnhancedCode)}
		}
		return nil
	}
	session := func(remote, user string) *smtpd.Info {
		s := &smtpd.Info{Remote: remote, AuthUser: user}
		tx, err := f.Mail(ctx, s, "")
		if err != nil {
			t.Fatal(err)
		}
		s.Txn = tx
		return s
	}
	want := func(got *smtpdReply, code int, enh [3]int, what string) {
		t.Helper()
		if code == 550 { // no key: the lookup ran
			if got == nil || got.code != 550 {
				t.Fatalf("%s: %v, want the lookup's 550", what, got)
			}
			return
		}
		if got == nil || got.code != code || got.enh != enh {
			t.Fatalf("%s: %v, want %d %v", what, got, code, enh)
		}
	}

	a := session("192.0.2.1:4000", "")
	for i := range 10 {
		want(rcpt(a, ""), 550, [3]int{}, fmt.Sprintf("lookup %d", i))
	}
	want(rcpt(a, ""), 452, [3]int{4, 5, 3}, "11th uncached lookup in one transaction")
	want(rcpt(a, "cached@example.org"), 550, [3]int{}, "a cached answer")
	b := session("192.0.2.1:4001", "") // the same client, a new transaction
	for i := range 10 {
		want(rcpt(b, ""), 550, [3]int{}, fmt.Sprintf("second transaction, lookup %d", i))
	}
	c := session("192.0.2.1:4002", "")
	for i := range 5 {
		want(rcpt(c, ""), 550, [3]int{}, fmt.Sprintf("third transaction, lookup %d", i))
	}
	want(rcpt(c, ""), 451, [3]int{4, 7, 1}, "26th lookup from one address")
	v6a, v6b := session("[2001:db8:1:2::1]:25", ""), session("[2001:db8:1:2::ffff]:25", "")
	for range 10 {
		rcpt(v6a, "")
	}
	for range 10 {
		rcpt(v6b, "")
	}
	if got := rcpt(session("[2001:db8:1:2::3]:25", ""), ""); got != nil && got.code != 550 {
		// 21st to 25th of the /64 are still within the burst
		t.Fatalf("21st lookup from a /64: %v", got)
	}
	want(rcpt(session("198.51.100.7:25", ""), ""), 550, [3]int{}, "another client")
	want(rcpt(session("192.0.2.1:4003", "alice@example.org"), ""), 550, [3]int{}, "a submission user")
	before := k.n
	want(rcpt(c, ""), 451, [3]int{4, 7, 1}, "still over the rate")
	if k.n != before {
		t.Errorf("a refused RCPT looked a key up")
	}
	now = now.Add(time.Second) // 60/min: one token back
	want(rcpt(session("192.0.2.1:4004", ""), ""), 550, [3]int{}, "after a second")
	want(rcpt(session("192.0.2.1:4005", ""), ""), 451, [3]int{4, 7, 1}, "and only one")
}

type smtpdReply struct {
	code int
	enh  [3]int
}

func (r *smtpdReply) String() string { return fmt.Sprintf("%d %v", r.code, r.enh) }
