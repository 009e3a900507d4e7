package peer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/payload"
	"passerelle/bridge/peermsg"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/forward"
)

// TestTransferAckedOnce: one transfer for three recipients at one peer
// domain; the peer stores the two it serves in one Accept and refuses the
// third permanently; the ack answers every recipient without another
// transfer; a resend (the sender lost the ack, or restarted) is answered
// from the duplicate store, also after the receiver reopens it.
func TestTransferAckedOnce(t *testing.T) {
	f := newFixture(t)
	f.local.refuse["nobody@b.example"] = smtpd.NoSuchUser
	qe := f.submit(t, "alice@a.example", "bob@b.example", "carol@b.example", "nobody@b.example")
	if len(f.deliveredBodys) != 1 || len(qe.Recipients) != 3 {
		t.Fatalf("sealed %d bodies for %d recipients, want one for three", len(f.deliveredBodys), len(qe.Recipients))
	}
	if strings.Contains(string(f.deliveredBodys[0]), "hello over XMPP") {
		t.Fatal("spooled transfer holds plaintext")
	}
	for i, want := range []bool{true, true, false} {
		err := f.deliver(qe, i)
		if (err == nil) != want {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if !want && !queue.IsPermanent(err) {
			t.Fatalf("refused recipient: %v, want permanent", err)
		}
	}
	if f.net.transfer != 1 || f.local.accepted() != 1 || len(f.local.got[0].Recipients) != 2 {
		t.Fatalf("%d transfers, %d accepts (%+v), want 1 and 1 with 2 recipients", f.net.transfer, f.local.accepted(), f.local.got)
	}
	got := string(f.local.data[0])
	if !strings.HasSuffix(got, testMail) || !strings.HasPrefix(f.local.got[0].Received, "Received: from mail.a.example") {
		t.Fatalf("delivered %q with trace %q", got, f.local.got[0].Received)
	}
	// The sender restarts (no ack cache) and sends again.
	f.target, _ = NewTarget(TargetConfig{Peers: f.discoveryA, IQ: f.linkA})
	if err := f.deliver(qe, 0); err != nil {
		t.Fatal(err)
	}
	// The receiver restarts too.
	dd, err := OpenDedup(f.dedupDir, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.receiver.cfg.Dedup = dd
	f.target, _ = NewTarget(TargetConfig{Peers: f.discoveryA, IQ: f.linkA})
	if err := f.deliver(qe, 1); err != nil {
		t.Fatal(err)
	}
	if f.net.transfer != 3 || f.local.accepted() != 1 {
		t.Fatalf("%d transfers, %d accepts: a resent transfer was stored again", f.net.transfer, f.local.accepted())
	}
}

// TestTemporaryFailureStoresNothing: a peer whose spool fails answers
// wait; the sender retries with the same id and the mail is stored once.
func TestTemporaryFailureStoresNothing(t *testing.T) {
	f := newFixture(t)
	qe := f.submit(t, "alice@a.example", "bob@b.example")
	f.local.failing = smtpd.StorageFull
	err := f.deliver(qe, 0)
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("spool full at the peer: %v, want temporary", err)
	}
	f.local.failing = nil
	if err := f.deliver(qe, 0); err != nil {
		t.Fatal(err)
	}
	if f.local.accepted() != 1 {
		t.Fatalf("%d accepts", f.local.accepted())
	}
}

// TestReceiverRefuses: what a receiving gateway must refuse, with nothing
// stored. A malicious sender seals envelopes by hand, bypassing its own
// RCPT checks.
func TestReceiverRefuses(t *testing.T) {
	mallory := domainKey(t, "mail.m.example")
	for _, tc := range []struct {
		name       string
		from       string // sending component
		mailFrom   string
		setup      func(f *fixture)
		signer     func(f *fixture) *openpgp.Entity
		wantStatus string
		wantTemp   bool
	}{
		{name: "forged envelope sender domain", from: "mail.a.example", mailFrom: "ceo@c.example",
			setup: func(f *fixture) {
				f.records.set("c.example", Record{JID: "mail.c.example", Fingerprint: Fingerprint(mallory)})
			}, wantStatus: "5.7.1"},
		{name: "sender domain's record names another gateway (same key)", from: "mail.a.example", mailFrom: "ceo@c.example",
			setup: func(f *fixture) {
				f.records.set("c.example", Record{JID: "mail.c.example", Fingerprint: Fingerprint(f.aKey)})
			}, wantStatus: "5.7.1"},
		{name: "sender domain without record", from: "mail.a.example", mailFrom: "ceo@d.example", wantStatus: "5.7.1"},
		{name: "key does not match the record", from: "mail.a.example", mailFrom: "alice@a.example",
			setup: func(f *fixture) {
				f.records.set("a.example", Record{JID: "mail.a.example", Fingerprint: Fingerprint(mallory)})
			}, wantStatus: "5.7.1"},
		{name: "signed by another key than the one served", from: "mail.a.example", mailFrom: "alice@a.example",
			signer: func(f *fixture) *openpgp.Entity { return mallory }, wantStatus: "5.7.1"},
		{name: "unknown gateway (not a Passerelle)", from: "mail.x.example", mailFrom: "x@x.example",
			setup: func(f *fixture) { f.net.sites["mail.x.example"] = &site{} }, wantStatus: "5.7.1"},
		{name: "gateway no record names", from: "mail.m.example", mailFrom: "x@m.example",
			setup: func(f *fixture) {
				pub, _ := NewPublisher(mallory, nil)
				f.net.sites["mail.m.example"] = &site{pub: pub}
			}, signer: func(*fixture) *openpgp.Entity { return mallory }, wantStatus: "5.7.1"},
		{name: "key change held", from: "mail.a.example", mailFrom: "alice@a.example",
			setup: func(f *fixture) { f.trust.verdict["a.example"] = Hold }, wantStatus: "4.7.0", wantTemp: true},
		{name: "trust refuses", from: "mail.a.example", mailFrom: "alice@a.example",
			setup: func(f *fixture) { f.trust.verdict["a.example"] = Refuse }, wantStatus: "5.7.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			signer := f.aKey
			if tc.signer != nil {
				signer = tc.signer(f)
			}
			env := &peermsg.Envelope{ID: queue.NewID(), SenderDomain: peermsg.Domain(tc.mailFrom), MailFrom: tc.mailFrom,
				Rcpts: []peermsg.Rcpt{{Addr: "bob@b.example"}}, Mail: &payload.Mail{Raw: []byte(testMail)}}
			ct, err := peermsg.Seal(peermsg.SealConfig{To: "mail.b.example", Envelope: env, Signer: signer, Peer: f.bKey})
			if err != nil {
				t.Fatal(err)
			}
			link := linkOf{n: f.net, from: jid.MustParse(tc.from)}
			tg, _ := NewTarget(TargetConfig{Peers: f.discoveryA, IQ: link})
			_, err = tg.send(context.Background(), jid.MustParse("mail.b.example"), peermsg.Transfer{ID: env.ID, Data: ct})
			var diag *queue.Diagnostic
			if d, ok := queue.DiagnosticOf(err); ok {
				diag = &d
			}
			if err == nil || diag == nil || diag.Status != tc.wantStatus || queue.IsPermanent(err) == tc.wantTemp {
				t.Fatalf("transfer: %v (diag %+v), want status %s temporary=%v", err, diag, tc.wantStatus, tc.wantTemp)
			}
			if f.local.accepted() != 0 {
				t.Fatal("refused transfer was stored")
			}
		})
	}
}

// TestRouteRcpt: the RCPT decisions of the sending side.
func TestRouteRcpt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := &smtpd.Info{Mode: smtpd.ModeSubmission, AuthUser: "alice"}
	mx := &smtpd.Info{Mode: smtpd.ModeMX}
	for _, tc := range []struct {
		name     string
		info     *smtpd.Info
		from, to string
		setup    func(f *fixture)
		want     error // nil: accepted
	}{
		{"submission to a peer", sub, "alice@a.example", "bob@b.example", nil, nil},
		{"MX relaying to a discovered peer", mx, "alice@a.example", "bob@b.example", nil, smtpd.RelayDenied},
		{"foreign sender", sub, "alice@elsewhere.example", "bob@b.example", nil, errForeignSender},
		{"no record", sub, "alice@a.example", "bob@nopeer.example", nil, errNoRoute},
		{"held", sub, "alice@a.example", "bob@b.example", func(f *fixture) { f.trust.verdict["b.example"] = Hold }, errPeerHeld},
		{"served key does not match the record", sub, "alice@a.example", "bob@b.example", func(f *fixture) {
			f.records.set("b.example", Record{JID: "mail.b.example", Fingerprint: Fingerprint(f.aKey)})
		}, errPeerRefused},
		{"peer component down", sub, "alice@a.example", "bob@b.example", func(f *fixture) {
			f.records.set("b.example", Record{JID: "mail.gone.example", Fingerprint: Fingerprint(f.bKey)})
		}, errPeerTemporary},
		{"DNS failure", sub, "alice@a.example", "bob@b.example", func(f *fixture) { f.records.err = errors.New("servfail") }, errPeerTemporary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			_, err := f.route.Rcpt(ctx, tc.info, tc.from, tc.to)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("Rcpt: %v, want %v", err, tc.want)
			}
		})
	}
	_ = f
}

// TestDedupSeededFromSpool: a crash after the spool's fsync and before the
// duplicate entry is written: at start-up the spool's tagged recipients
// seed the store, and the sender's retry is answered without storing the
// mail again; a recipient refused the first time is refused again.
func TestDedupSeededFromSpool(t *testing.T) {
	f := newFixture(t)
	f.local.refuse["nobody@b.example"] = smtpd.NoSuchUser
	qe := f.submit(t, "alice@a.example", "bob@b.example", "nobody@b.example")
	if err := f.deliver(qe, 0); err != nil {
		t.Fatal(err)
	}
	// The crash: the entry never reached the disk.
	ents, _ := filepath.Glob(filepath.Join(f.dedupDir, "*"))
	for _, e := range ents {
		os.Remove(e)
	}
	// Start-up: what the spool says (forward.Accept stored the tag with
	// each recipient).
	tags := map[string][]string{}
	for _, r := range f.local.got[0].Recipients {
		tg := r.Route.(forward.Tagged)
		tags[tg.Params[ParamTransfer]] = append(tags[tg.Params[ParamTransfer]], r.Addr)
	}
	dd, err := OpenDedup(f.dedupDir, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := dd.Seed(tags); err != nil || n != 1 {
		t.Fatalf("Seed = %d, %v", n, err)
	}
	f.receiver.cfg.Dedup = dd
	f.target, _ = NewTarget(TargetConfig{Peers: f.discoveryA, IQ: f.linkA})
	if err := f.deliver(qe, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.deliver(qe, 1); !queue.IsPermanent(err) {
		t.Fatalf("refused recipient after the restart: %v, want permanent", err)
	}
	if f.local.accepted() != 1 {
		t.Fatalf("%d accepts: the retry after the crash stored the mail again", f.local.accepted())
	}
}

// TestServedKeyRefetchedOnMismatch: after the peer changes its key and its
// record, a served key still in the cache disagrees with the new record;
// discovery asks the peer again instead of calling it an impostor, and the
// trust store decides about the new key.
func TestServedKeyRefetchedOnMismatch(t *testing.T) {
	f := newFixture(t)
	if _, err := f.discoveryA.Resolve(context.Background(), "b.example"); err != nil {
		t.Fatal(err)
	}
	newKey := domainKey(t, "mail.b.example")
	pub, _ := NewPublisher(newKey, []string{"b.example"})
	f.net.sites["mail.b.example"].pub = pub
	f.records.set("b.example", Record{JID: "mail.b.example", Fingerprint: Fingerprint(newKey)})
	p, err := f.discoveryA.Resolve(context.Background(), "b.example")
	if err != nil {
		t.Fatalf("after a key change: %v", err)
	}
	if p.Fingerprint != Fingerprint(newKey) {
		t.Fatalf("resolved %s, want the new key", p.Fingerprint)
	}
}
