package xmpp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

// TestStopRestart: with Prosody down Send fails temporarily; after Prosody
// comes back on the same ports Run reconnects and Send works again.
func TestStopRestart(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	c := startComponent(t, srv, nil, zap.NewAtomicLevelAt(zap.InfoLevel))
	alice := jid.MustParse(srv.JID("alice"))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, c, false)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := c.Send(ctx, xmpp.Message{To: alice, Payload: body("while down")})
	cancel()
	var te interface{ Temporary() bool }
	if !errors.As(err, &te) || !te.Temporary() || !errors.Is(err, xmpp.ErrNotConnected) {
		t.Fatalf("Send while down: %v, want temporary ErrNotConnected", err)
	}

	// A Send started while down completes once the link is back.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- c.Send(ctx, xmpp.Message{To: alice, Payload: body("queued")}) }()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	if err := <-sent; err != nil {
		t.Fatalf("Send across restart: %v", err)
	}
	inbox := receiver(ctx, t, srv, "alice") // drains offline storage
	expect(ctx, t, inbox, "queued")
	if err := c.Send(ctx, xmpp.Message{To: alice, Payload: body("after")}); err != nil {
		t.Fatalf("Send after restart: %v", err)
	}
	expect(ctx, t, inbox, "after")
}

// TestOfflineStored: a bare-JID message to a registered user who is not
// online is stored by mod_offline, so it is acknowledged.
func TestOfflineStored(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	c := startComponent(t, srv, nil, zap.NewAtomicLevelAt(zap.InfoLevel))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Send(ctx, xmpp.Message{To: jid.MustParse(srv.JID("bob")), Payload: body("stored")}); err != nil {
		t.Fatalf("Send to offline user: %v", err)
	}
	expect(ctx, t, receiver(ctx, t, srv, "bob"), "stored")
}

// TestBounceBeforeAck sends many messages concurrently, half to unknown
// users: every bounce must reach its own Send before the ack does, or Send
// would wrongly return nil.
func TestBounceBeforeAck(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users, DisableOffline: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inbox := receiver(ctx, t, srv, "alice")
	c := startComponent(t, srv, nil, zap.NewAtomicLevelAt(zap.InfoLevel))
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		to := srv.JID("alice")
		if i%2 == 1 {
			to = srv.JID(fmt.Sprintf("ghost%d", i))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Send(ctx, xmpp.Message{To: jid.MustParse(to), Type: stanza.ChatMessage, Payload: body("x")})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var se *xmpp.Error
		switch {
		case i%2 == 0 && err != nil:
			t.Errorf("%d: Send to alice: %v", i, err)
		case i%2 == 1 && (!errors.As(err, &se) || se.Condition != "service-unavailable" || se.Temporary()):
			t.Errorf("%d: Send to ghost: %v, want permanent service-unavailable", i, err)
		}
	}
	for range n / 2 {
		expect(ctx, t, inbox, "x")
	}
}

func TestBadSecret(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	c := xmpp.New(xmpp.Config{Addr: srv.ComponentAddr, Domain: srv.Component, Secret: "wrong",
		BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	err := c.Send(ctx, xmpp.Message{To: jid.MustParse(srv.JID("alice"))})
	if !errors.Is(err, xmpp.ErrNotConnected) {
		t.Fatalf("Send with bad secret: %v, want ErrNotConnected", err)
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v", err)
	}
}
