package peer

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"passerelle/gateway/smtpd"
)

// TestRouteSMTPFallback: with a fallback route, a recipient whose domain
// publishes policy=mixed goes over SMTP when its gateway cannot be used
// at RCPT; a strict domain, a domain without record and a failed record
// lookup (whose policy is unknown) keep the peer route's answers; a
// usable mixed peer still gets the transfer.
func TestRouteSMTPFallback(t *testing.T) {
	ctx := context.Background()
	sub := &smtpd.Info{Mode: smtpd.ModeSubmission, AuthUser: "alice"}
	down := func(strict bool) func(f *fixture) {
		return func(f *fixture) {
			f.records.set("b.example", Record{JID: "mail.gone.example", Fingerprint: Fingerprint(f.bKey), Strict: strict})
		}
	}
	for _, tc := range []struct {
		name     string
		fallback string
		setup    func(f *fixture)
		want     error // nil: a decision
		smtp     bool  // the decision is the SMTP fallback
	}{
		{"mixed, gateway usable: the peer route", "smtp", nil, nil, false},
		{"mixed, gateway down: SMTP", "smtp", down(false), nil, true},
		{"mixed, gateway down, no fallback configured: 451", "", down(false), errPeerTemporary, false},
		{"strict, gateway down: 451", "smtp", down(true), errPeerTemporary, false},
		{"mixed, key change held: SMTP", "smtp", func(f *fixture) { f.trust.verdict["b.example"] = Hold }, nil, true},
		{"strict, key change held: 451", "smtp", func(f *fixture) {
			f.records.set("b.example", Record{JID: "mail.b.example", Fingerprint: Fingerprint(f.bKey), Strict: true})
			f.trust.verdict["b.example"] = Hold
		}, errPeerHeld, false},
		{"mixed, served key does not match: SMTP", "smtp", func(f *fixture) {
			f.records.set("b.example", Record{JID: "mail.b.example", Fingerprint: Fingerprint(f.aKey)})
		}, nil, true},
		{"record lookup failed: policy unknown, 451", "smtp", func(f *fixture) { f.records.err = errors.New("servfail") }, errPeerTemporary, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.route.cfg.Fallback = tc.fallback
			if tc.setup != nil {
				tc.setup(f)
			}
			d, err := f.route.Rcpt(ctx, sub, "alice@a.example", "bob@b.example")
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Rcpt: %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Rcpt: %v", err)
			}
			if _, isSMTP := d.(smtpFallback); isSMTP != tc.smtp {
				t.Fatalf("decision %T, want SMTP fallback %v", d, tc.smtp)
			}
		})
	}
	if _, err := newFixture(t).route.Rcpt(ctx, sub, "alice@a.example", "bob@nopeer.example"); !errors.Is(err, errNoRoute) {
		t.Errorf("no record: %v, want %v", err, errNoRoute)
	}
}

// TestSealSMTPFallback: in one transaction, the recipient of a usable peer
// gets a sealed transfer and the fallback recipient the mail as received,
// on the fallback route.
func TestSealSMTPFallback(t *testing.T) {
	f := newFixture(t)
	plain := 0
	f.route.cfg.Fallback, f.route.cfg.Plaintext = "smtp", func() { plain++ }
	f.records.set("m.example", Record{JID: "mail.gone.example", Fingerprint: Fingerprint(f.bKey)})
	ctx := context.Background()
	info := &smtpd.Info{Mode: smtpd.ModeSubmission, AuthUser: "alice"}
	env := &smtpd.Envelope{Session: *info, From: "alice@a.example"}
	for _, r := range []string{"bob@b.example", "mia@m.example", "max@m.example"} {
		d, err := f.route.Rcpt(ctx, info, env.From, r)
		if err != nil {
			t.Fatalf("Rcpt %s: %v", r, err)
		}
		env.Recipients = append(env.Recipients, smtpd.Recipient{Addr: r, Route: d, Notify: []string{"FAILURE"}})
	}
	qrs, bodies, err := f.route.Seal(ctx, env, []byte(testMail), []byte(testInner), env.Recipients)
	if err != nil {
		t.Fatal(err)
	}
	if len(qrs) != 3 || len(bodies) != 2 || plain != 1 {
		t.Fatalf("%d recipients, %d bodies, %d counted in clear; want 3, 2 (one transfer, one mail in clear) and 1", len(qrs), len(bodies), plain)
	}
	for _, r := range qrs {
		peerRcpt := r.Addr == "bob@b.example"
		if (r.Route == RouteName) != peerRcpt || (!peerRcpt && r.Route != "smtp") {
			t.Errorf("%s: route %q", r.Addr, r.Route)
		}
		clear := bytes.Equal(bodies[r.Body], []byte(testMail))
		if clear == peerRcpt {
			t.Errorf("%s: body in clear %v", r.Addr, clear)
		}
		if len(r.Notify) != 1 || r.Notify[0] != "FAILURE" || r.ORCPT != "rfc822;"+r.Addr && r.ORCPT != "" {
			t.Errorf("%s: DSN parameters lost: %+v", r.Addr, r)
		}
	}
}
