package forward

import (
	"context"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/gateway/authres"
	"passerelle/gateway/smtpd"
)

type fakeVerifier struct {
	res authres.Result
	saw []byte
}

func (v *fakeVerifier) Verify(_ context.Context, raw []byte) authres.Result {
	v.saw = raw
	return v.res
}

func TestAcceptAuthentication(t *testing.T) {
	forged := "Authentication-Results: MX.example.org; dkim=pass header.d=remote.example\r\n"
	for _, tc := range []struct {
		name       string
		res        authres.Result
		reject     bool
		authUser   string
		wantCode   int
		wantMark   bool
		wantHeader string // prefix of the stored mail
	}{
		{name: "pass", res: authres.Result{Verdict: authres.Pass, Header: "mx.example.org; dkim=pass"},
			wantHeader: "Authentication-Results: mx.example.org;\r\n\tdkim=pass\r\nReceived: "},
		{name: "none is marked", res: authres.Result{Verdict: authres.None, Header: "mx.example.org; dkim=none"},
			reject: true, wantMark: true, wantHeader: "Authentication-Results: mx.example.org;\r\n\tdkim=none\r\n"},
		{name: "p=quarantine is marked, not refused", res: authres.Result{Verdict: authres.Fail, DMARCPolicy: authres.PolicyQuarantine, DMARCPercent: 100, Header: "h"},
			reject: true, wantMark: true},
		{name: "p=reject refused", res: authres.Result{Verdict: authres.Fail, DMARCPolicy: authres.PolicyReject, DMARCPercent: 100, Header: "h"},
			reject: true, wantCode: 550},
		{name: "p=reject only marked in mark mode", res: authres.Result{Verdict: authres.Fail, DMARCPolicy: authres.PolicyReject, DMARCPercent: 100, Header: "h"},
			wantMark: true},
		{name: "temperror never refuses", res: authres.Result{Verdict: authres.TempError, DMARCPolicy: authres.PolicyReject, DMARCPercent: 100, Header: "h"},
			reject: true, wantMark: true},
		{name: "submission is not checked by DKIM", res: authres.Result{Verdict: authres.Fail, DMARCPolicy: authres.PolicyReject, DMARCPercent: 100, Header: "h"},
			reject: true, authUser: "bob@remote.example",
			wantHeader: "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=bob@remote.example\r\nReceived: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &fakeSpool{}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			v := &fakeVerifier{res: tc.res}
			f.cfg.Verifier, f.cfg.RejectDMARC = v, tc.reject
			route, err := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			env := &smtpd.Envelope{From: "bob@remote.example", Received: "Received: from x by y; now\r\n",
				Session:    smtpd.Info{AuthUser: tc.authUser},
				Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
			err = f.Accept(context.Background(), env, []byte(forged+testMail))
			if tc.wantCode != 0 {
				if got := smtpd.SMTPError(err); got == nil || got.Code != tc.wantCode || got.EnhancedCode != [3]int{5, 7, 1} {
					t.Fatalf("Accept = %v, want %d 5.7.1", got, tc.wantCode)
				}
				if sp.env != nil {
					t.Fatal("refused mail was spooled")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := openSpooled(t, sp)
			if got := strings.HasPrefix(p.Body, "⚠ Warning: the sender address bob@remote.example could not be verified."); got != tc.wantMark {
				t.Errorf("marked = %v, want %v: %q", got, tc.wantMark, p.Body)
			}
			raw := string(p.Mail.Raw)
			if !strings.HasPrefix(raw, tc.wantHeader) || strings.Contains(raw, "MX.example.org; dkim=pass") {
				t.Errorf("stored mail does not start with %q or keeps the forged field:\n%s", tc.wantHeader, raw)
			}
			if tc.authUser == "" && !strings.HasPrefix(string(v.saw), forged) {
				t.Errorf("verifier did not see the message as received")
			}
		})
	}
}

func openSpooled(t *testing.T, sp *fakeSpool) *payload.Payload {
	t.Helper()
	sc, err := ox.Open(sp.bodies[0], ox.OpenConfig{Keyring: openpgp.EntityList{testKey},
		Senders: openpgp.EntityList{puppetKey}, Recipient: "alice@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAcceptPeer: mail a verified peer gateway handed over is recorded as
// such and not marked when its From is in the domain the gateway was
// verified for; a From elsewhere is marked. Forged fields are removed.
func TestAcceptPeer(t *testing.T) {
	forged := "Authentication-Results: MX.example.org; dkim=pass header.d=remote.example\r\n"
	for _, tc := range []struct {
		name, verified string
		wantMark       bool
	}{
		{"From in the verified domain", "remote.example", false},
		{"From elsewhere", "other.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &fakeSpool{}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			route, err := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			env := &smtpd.Envelope{From: "bob@" + tc.verified, Received: "Received: from mail.remote.example by y; now\r\n",
				Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
			if err := f.AcceptPeer(context.Background(), env, []byte(forged+testMail), "mail."+tc.verified, tc.verified); err != nil {
				t.Fatal(err)
			}
			p := openSpooled(t, sp)
			if got := strings.HasPrefix(p.Body, "⚠ Warning:"); got != tc.wantMark {
				t.Errorf("marked = %v, want %v", got, tc.wantMark)
			}
			want := "Authentication-Results: mx.example.org; x-passerelle-peer=pass (gateway mail." + tc.verified + ") smtp.mailfrom=" + tc.verified + "\r\n"
			if raw := string(p.Mail.Raw); !strings.HasPrefix(raw, want) || strings.Contains(raw, "MX.example.org; dkim=pass") {
				t.Errorf("stored mail:\n%s", raw)
			}
		})
	}
}
