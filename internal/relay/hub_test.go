package relay

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/peer"
)

var mxInfo = &smtpd.Info{ID: "s1", Mode: smtpd.ModeMX, Remote: "192.0.2.1:2525"}

// TestHubInbound: MX mail for the client's domain is refused (4xx) until
// the hub knows the client's key, then sealed to it before the spool (no
// plaintext in the spooled body), queued while the client is away, and
// delivered once to the client's local path when it is back.
func TestHubInbound(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.hub.Rcpt(ctx, mxInfo, "bob@far.example", "alice@home.example"); smtpd.SMTPError(err).Code != 451 {
		t.Fatalf("RCPT before any hello: %v, want 451", err)
	}
	if _, err := s.hub.Rcpt(ctx, mxInfo, "bob@far.example", "eve@elsewhere.example"); !errors.Is(err, smtpd.RelayDenied) {
		t.Fatalf("RCPT for a domain no client holds: %v, want relaying denied", err)
	}
	s.connect(t)
	dec, err := s.hub.Rcpt(ctx, mxInfo, "bob@far.example", "alice@home.example")
	if err != nil {
		t.Fatal(err)
	}
	raw := mailFrom("bob@far.example", "alice@home.example", "inbound-marker-1")
	env := &smtpd.Envelope{From: "bob@far.example"}
	rcpts, bodies, err := s.hub.Seal(ctx, env, raw, nil, []smtpd.Recipient{{Addr: "alice@home.example", Route: dec}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || hasMarker(bodies[0], "inbound-marker-1") || rcpts[0].Route != RouteHub {
		t.Fatalf("spooled %d bodies, route %q; plaintext in it: %v", len(bodies), rcpts[0].Route, hasMarker(bodies[0], "inbound-marker-1"))
	}
	target, err := s.hub.HubTargets(s.toClient, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := delivery("m1", rcpts[0], bodies[0], queue.BodyOpaque)
	s.toHub.drop() // the client goes away: its session no longer exists
	err = target.Deliver(ctx, d)
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("deliver to a vanished client session: %v, want temporary", err)
	}
	if err := target.Deliver(ctx, d); err == nil || queue.IsPermanent(err) {
		t.Fatalf("deliver while the client is away: %v, want temporary", err)
	}
	s.connect(t)
	for range 2 { // a retry after a lost ack is answered from the client's duplicate store
		if err := target.Deliver(ctx, d); err != nil {
			t.Fatalf("deliver after reconnect: %v", err)
		}
	}
	if s.local.count() != 1 || !hasMarker(s.local.data[0], "inbound-marker-1") {
		t.Fatalf("the client's local path got %d mails", s.local.count())
	}
}

// TestHubHello: only configured accounts with the pinned key; the key is
// kept across restarts so that mail is sealed while the client is away.
func TestHubHello(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	stranger := &fakeLink{from: "mallory@hub.example/x", handlers: s.toHub.handlers}
	if _, err := stranger.IQ(ctx, iqTo(hubJID), xmpp.Tokens(helloOf(t, s.clientKey)...)); !isCondition(err, "forbidden") {
		t.Errorf("hello from an account that is no client: %v, want forbidden", err)
	}
	s.toHub.up = true
	if _, err := s.toHub.IQ(ctx, iqTo(hubJID), xmpp.Tokens(helloOf(t, domainKey(t, "other"))...)); !isCondition(err, "not-authorized") {
		t.Errorf("hello with another key: %v, want not-authorized", err)
	}
	// The account password without the key: a hello with the client's
	// (public) key but no signature, or one signed for another session,
	// does not make that session the push target.
	if _, err := s.toHub.IQ(ctx, iqTo(hubJID), xmpp.Tokens(helloOf(t, s.clientKey)...)); !isCondition(err, "not-authorized") {
		t.Errorf("unsigned hello with the client's key: %v, want not-authorized", err)
	}
	other := &fakeLink{from: "home@hub.example/impostor", handlers: s.toHub.handlers}
	s.client.cfg.Link = &replayLink{to: other}
	if err := s.client.hello(ctx); !isCondition(err, "not-authorized") {
		t.Errorf("hello signed for another session: %v, want not-authorized", err)
	}
	s.client.cfg.Link = s.toHub
	if _, err := s.hub.Resolve(ctx, clientJID); !errors.Is(err, peer.ErrTemporary) {
		t.Errorf("Resolve before hello: %v", err)
	}
	s.connect(t)
	p, err := s.hub.Resolve(ctx, clientJID)
	if err != nil || p.JID.String() != session {
		t.Fatalf("Resolve after hello: %v %v", p, err)
	}
	again, err := NewHub(s.hub.cfg) // a restart
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Rcpt(ctx, mxInfo, "bob@far.example", "alice@home.example"); err != nil {
		t.Errorf("RCPT after a restart, client offline: %v (the stored key should be used)", err)
	}
	// The client's session outlives a hub restart and it says hello only
	// when its own link comes up: the restarted hub tries the last session.
	if p, err := again.Resolve(ctx, clientJID); err != nil || p.JID.String() != session {
		t.Errorf("Resolve after a restart: %v %v, want the stored session %s", p, err, session)
	}
}

// TestHubOutbound: the hub relays a client's mail only for its own
// domains, spools it for MX delivery and acks once per transfer id.
func TestHubOutbound(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.connect(t)
	up, err := s.client.Target(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	send := func(from, marker string) error {
		info := &smtpd.Info{ID: "s2", Mode: smtpd.ModeSubmission, AuthUser: "mta"}
		dec, err := s.client.Rcpt(ctx, info, from, "carol@far.example")
		if err != nil {
			return err
		}
		rcpts, bodies, err := s.client.Seal(ctx, &smtpd.Envelope{From: from}, mailFrom(from, "carol@far.example", marker), nil,
			[]smtpd.Recipient{{Addr: "carol@far.example", Route: dec}})
		if err != nil {
			return err
		}
		d := delivery("o1", rcpts[0], bodies[0], queue.BodyOpaque)
		if err := up.Deliver(ctx, d); err != nil {
			return err
		}
		return up.Deliver(ctx, d) // a retry: the same ack, stored once
	}
	if err := send("alice@home.example", "out-1"); err != nil {
		t.Fatalf("outbound from the client's domain: %v", err)
	}
	if s.spool.count() != 1 || !hasMarker(s.spool.bodies[0], "out-1") || s.spool.envs[0].Recipients[0].Route != "smtp" {
		t.Fatalf("hub spool: %d messages", s.spool.count())
	}
	// The client's own policy refuses foreign senders at RCPT; a client
	// that sends anyway (its local_domains wider than what the hub gave
	// it) is refused by the hub, permanently.
	if err := send("ceo@far.example", "out-2"); smtpd.SMTPError(err).Code != 550 {
		t.Errorf("client RCPT with a foreign sender: %v, want 550", err)
	}
	s.client.cfg.Policy = mustPolicy(t, "home.example", "other.example")
	err = send("bob@other.example", "out-3")
	if !queue.IsPermanent(err) || s.spool.count() != 1 {
		t.Errorf("outbound for a domain the client does not hold: %v (spooled %d), want a permanent refusal", err, s.spool.count())
	}
	if diag, ok := queue.DiagnosticOf(err); !ok || diag.Status != "5.7.1" {
		t.Errorf("diagnostic %+v, want 5.7.1", diag)
	}
}

// TestSessionIQ: the server's own error for a vanished session is
// temporary and forgets the session; the client's refusal is not.
func TestSessionIQ(t *testing.T) {
	s := newSite(t)
	s.connect(t)
	fail := func(e *xmpp.Error) *sessionIQ {
		return &sessionIQ{hub: s.hub, iq: iqFunc(func() error { return e })}
	}
	_, err := fail(xmpp.Classify("service-unavailable", "cancel", "")).IQ(context.Background(), iqTo(session), nil)
	var xe *xmpp.Error
	if err == nil || errors.As(err, &xe) {
		t.Errorf("server error: %v, want a plain (temporary) error", err)
	}
	if _, err := s.hub.Resolve(context.Background(), clientJID); !errors.Is(err, peer.ErrTemporary) {
		t.Errorf("session not forgotten: %v", err)
	}
	s.connect(t)
	_, err = fail(xmpp.Classify("forbidden", "auth", peermsg.ErrorText("5.7.1", "no"))).IQ(context.Background(), iqTo(session), nil)
	if !errors.As(err, &xe) {
		t.Errorf("client refusal: %v, want the *xmpp.Error", err)
	}
	if _, err := s.hub.Resolve(context.Background(), clientJID); err != nil {
		t.Errorf("session forgotten on the client's own refusal: %v", err)
	}
}

// TestHubNeedsSignedAcks: whoever logs in with the account's password but
// without the client's key cannot make the hub drop mail: an ack without
// the client's signature (or with another key's) is not believed, the
// session is forgotten and the mail stays queued.
func TestHubNeedsSignedAcks(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		handle func(s *site) xmpp.IQHandler
	}{
		{"unsigned", func(s *site) xmpp.IQHandler { return s.rcv.Handle }},
		{"signed by another key", func(s *site) xmpp.IQHandler {
			cfg := s.client.cfg
			cfg.Key, cfg.HubKeyFile = domainKey(t, "impostor"), t.TempDir()+"/hub.pgp"
			other, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return other.SignAcks(s.rcv.Handle)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t)
			s.connect(t)
			s.toClient.handlers["mail"] = tc.handle(s)
			dec, err := s.hub.Rcpt(ctx, mxInfo, "bob@far.example", "alice@home.example")
			if err != nil {
				t.Fatal(err)
			}
			rcpts, bodies, err := s.hub.Seal(ctx, &smtpd.Envelope{From: "bob@far.example"},
				mailFrom("bob@far.example", "alice@home.example", "m"), nil, []smtpd.Recipient{{Addr: "alice@home.example", Route: dec}})
			if err != nil {
				t.Fatal(err)
			}
			target, err := s.hub.HubTargets(s.toClient, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			err = target.Deliver(ctx, delivery("m2", rcpts[0], bodies[0], queue.BodyOpaque))
			if err == nil || queue.IsPermanent(err) {
				t.Fatalf("Deliver with a %s ack: %v, want a temporary failure", tc.name, err)
			}
			if _, err := s.hub.Resolve(ctx, clientJID); !errors.Is(err, peer.ErrTemporary) {
				t.Errorf("the session is still the push target: %v", err)
			}
		})
	}
}

// TestHubDSNToClient: a DSN the hub writes for a client's sender is spooled
// plain (it reports on mail the hub held plain) and sealed to the client
// when it leaves the queue; a plain body for an address no client holds
// is refused.
func TestHubDSNToClient(t *testing.T) {
	s := newSite(t)
	s.connect(t)
	ctx := context.Background()
	target, err := s.hub.HubTargets(s.toClient, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	owner, ok := s.hub.Owner("alice@home.example")
	if !ok || owner != clientJID {
		t.Fatalf("Owner = %q, %v", owner, ok)
	}
	dsn := mailFrom("mailer-daemon@mx.hub.example", "alice@home.example", "dsn-1")
	d := delivery("d1", queue.Recipient{Addr: "alice@home.example", Route: RouteHub}, dsn, queue.BodyMessage)
	d.From = ""
	if err := target.Deliver(ctx, d); err != nil {
		t.Fatalf("deliver a DSN: %v", err)
	}
	if s.local.count() != 1 || !hasMarker(s.local.data[0], "dsn-1") || s.local.got[0].From != "" {
		t.Fatalf("the client got %d mails", s.local.count())
	}
	d = delivery("d2", queue.Recipient{Addr: "eve@elsewhere.example", Route: RouteHub}, dsn, queue.BodyMessage)
	if err := target.Deliver(ctx, d); !queue.IsPermanent(err) {
		t.Errorf("a DSN for an address no client holds: %v, want permanent", err)
	}
}

// TestClientHelloRepeats: a hub that forgot the client's session learns it
// again from the client's next hello on the same link.
func TestClientHelloRepeats(t *testing.T) {
	s := newSite(t)
	s.client.cfg.HelloEvery = 20 * time.Millisecond
	s.toHub.up = true
	ctx, cancel := context.WithCancel(s.toHub.ctx())
	done := make(chan struct{})
	defer func() { cancel(); <-done }() // before TempDir's cleanup: OnUp writes there
	go func() { defer close(done); s.client.OnUp(ctx) }()
	waitFor(t, func() bool { _, err := s.hub.Resolve(context.Background(), clientJID); return err == nil })
	s.hub.gone(jid.MustParse(session))
	waitFor(t, func() bool { _, err := s.hub.Resolve(context.Background(), clientJID); return err == nil })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

// TestHubClientRateLimit: past its hourly recipient allowance a client's
// transfer is refused for now (the client keeps it and retries), nothing
// spooled; the allowance comes back as the hour passes.
func TestHubClientRateLimit(t *testing.T) {
	s := newSite(t)
	now := time.Now()
	s.hub.cfg.Now = func() time.Time { return now }
	s.hub.byJID[clientJID].MaxRecipientsPerHour = 2
	s.connect(t)
	ctx := context.Background()
	up, err := s.client.Target(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	send := func(i int) error {
		info := &smtpd.Info{ID: "s", Mode: smtpd.ModeSubmission, AuthUser: "mta"}
		dec, err := s.client.Rcpt(ctx, info, "alice@home.example", "carol@far.example")
		if err != nil {
			return err
		}
		rcpts, bodies, err := s.client.Seal(ctx, &smtpd.Envelope{From: "alice@home.example"},
			mailFrom("alice@home.example", "carol@far.example", "rate"), nil, []smtpd.Recipient{{Addr: "carol@far.example", Route: dec}})
		if err != nil {
			return err
		}
		return up.Deliver(ctx, delivery(fmt.Sprint("r", i), rcpts[0], bodies[0], queue.BodyOpaque))
	}
	for i := range 2 {
		if err := send(i); err != nil {
			t.Fatalf("mail %d within the allowance: %v", i, err)
		}
	}
	if err := send(2); err == nil || queue.IsPermanent(err) || s.spool.count() != 2 {
		t.Fatalf("mail over the allowance: %v (spooled %d), want a temporary refusal", err, s.spool.count())
	}
	now = now.Add(time.Hour)
	if err := send(3); err != nil || s.spool.count() != 3 {
		t.Fatalf("an hour later: %v (spooled %d)", err, s.spool.count())
	}
}
