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
	"passerelle/internal/ejabberdtest"
)

// TestTargetEjabberdErrors: what ejabberd 23.01 answers the component for
// a message to an account that does not exist, and to an offline user
// whose offline queue is full (mod_offline's max_user_offline_messages),
// and what the queue makes of each. make test-ejabberd runs it (make test
// skips *Ejabberd* tests: ejabberd is not among its peers).
func TestTargetEjabberdErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ejabberd; make test-ejabberd runs it")
	}
	const limit = 2
	srv := ejabberdtest.Start(t, ejabberdtest.Options{Users: map[string]string{"bob": "bob-pw"}, OfflineLimit: limit})
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
	bob := srv.JID("bob")
	tgt := &Target{Sender: c}
	n := 0
	deliver := func(addr, enc string) error {
		n++
		body := "opaque ciphertext"
		if enc == "none" {
			body = "Subject: hi\r\nFrom: a@remote.example\r\n\r\nhello\r\n"
		}
		d := &queue.Delivery{ID: fmt.Sprint("q", n), Recipient: queue.Recipient{Addr: addr, Route: RouteXMPP,
			Params: map[string]string{ParamJID: addr, ParamFrom: `a\40remote.example@` + srv.Component,
				ParamOriginID: fmt.Sprint("o", n), ParamEnc: enc}},
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
		return tgt.Deliver(ctx, d)
	}
	for i := range limit { // bob is offline: these fill his offline queue
		if err := deliver(bob, "ox"); err != nil {
			t.Fatalf("message %d to bob's offline queue: %v", i, err)
		}
	}
	tests := []struct {
		name, addr, enc string
		wantCondition   string
		wantStatus      string
		wantPermanent   bool
		wantExpiry      string
	}{
		{"unknown account", "nobody@" + srv.Domain, "none", "service-unavailable", "5.1.1", true, ""},
		{"offline queue full", bob, "ox", "resource-constraint", "4.2.2", false, "5.2.2"},
	}
	for i, tc := range tests {
		err := deliver(tc.addr, tc.enc)
		var xe *xmpp.Error
		errors.As(err, &xe)
		diag, _ := queue.DiagnosticOf(err)
		if xe == nil || xe.Condition != tc.wantCondition || queue.IsPermanent(err) != tc.wantPermanent ||
			diag.Status != tc.wantStatus || diag.ExpiryStatus != tc.wantExpiry {
			t.Errorf("%d %s: err %v (%+v, permanent %v), diagnostic %+v; want %s, status %s, permanent %v, expiry %q",
				i, tc.name, err, xe, queue.IsPermanent(err), diag, tc.wantCondition, tc.wantStatus, tc.wantPermanent, tc.wantExpiry)
		}
	}
}
