package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/internal/prosodytest"
)

// TestTargetFullOfflineStore (A7): Prosody answers a message to an offline
// user whose offline store holds storage_archive_item_limit messages with
// service-unavailable (cancel), as for an account that does not exist. A
// recipient known to exist (a key was found: enc ox; or the user list)
// then has a full mailbox: temporary 4.2.2, 5.2.2 at expiry. Without that
// knowledge it stays "no such user" (5.1.1, permanent).
func TestTargetFullOfflineStore(t *testing.T) {
	const limit = 2
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"bob": "bob-pw", "carol": "carol-pw"},
		GlobalConfig: fmt.Sprintf("storage_archive_item_limit = %d\n", limit)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := xmpp.New(xmpp.Config{Addr: srv.ComponentAddr, Domain: srv.Component, Secret: srv.ComponentSecret,
		Log: zaptest.NewLogger(t), AckTimeout: 5 * time.Second, BackoffMin: 50 * time.Millisecond})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	for !c.Connected() {
		if ctx.Err() != nil {
			t.Fatal("component did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bob, carol := srv.JID("bob"), srv.JID("carol")
	tgt := &Target{Sender: c, Known: func(addr string) bool { return addr == carol }}
	n := 0
	deliver := func(addr, jid, enc string) error {
		n++
		body := "opaque ciphertext"
		if enc == "none" {
			body = "Subject: hi\r\nFrom: a@remote.example\r\n\r\nhello\r\n"
		}
		d := &queue.Delivery{ID: fmt.Sprint("q", n), Recipient: queue.Recipient{Addr: addr, Route: RouteXMPP,
			Params: map[string]string{ParamJID: jid, ParamFrom: `a\40remote.example@` + srv.Component,
				ParamOriginID: fmt.Sprint("o", n), ParamEnc: enc}},
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
		return tgt.Deliver(ctx, d)
	}
	for i := range limit { // bob and carol are offline: these fill their offline stores
		for _, u := range []string{bob, carol} {
			if err := deliver(u, u, "ox"); err != nil {
				t.Fatalf("message %d to %s's offline store: %v", i, u, err)
			}
		}
	}
	tests := []struct {
		name, addr, enc string
		wantStatus      string
		wantPermanent   bool
		wantExpiry      string
	}{
		{"key found: mailbox full", bob, "ox", "4.2.2", false, "5.2.2"},
		{"no key, not known: no such user", bob, "none", "5.1.1", true, ""},
		{"unknown account", "nobody@" + srv.Domain, "none", "5.1.1", true, ""},
		{"no key, in the user list: mailbox full", carol, "none", "4.2.2", false, "5.2.2"},
	}
	for i, tc := range tests {
		err := deliver(tc.addr, tc.addr, tc.enc)
		diag, _ := queue.DiagnosticOf(err)
		if err == nil || queue.IsPermanent(err) != tc.wantPermanent || diag.Status != tc.wantStatus || diag.ExpiryStatus != tc.wantExpiry {
			t.Errorf("%d %s: err %v (permanent %v), diagnostic %+v; want status %s, permanent %v, expiry %q",
				i, tc.name, err, queue.IsPermanent(err), diag, tc.wantStatus, tc.wantPermanent, tc.wantExpiry)
		}
	}
	var xe *xmpp.Error
	if err := deliver(bob, bob, "ox"); !errors.As(err, &xe) || xe.Condition != "service-unavailable" || xe.Type != "cancel" {
		t.Fatalf("what Prosody answers for a full store: %v", err)
	}
}
