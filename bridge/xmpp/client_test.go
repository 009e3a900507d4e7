package xmpp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

// TestClientLink: the c2s link of relay mode logs in to a real Prosody
// with STARTTLS on the c2s port and with TLS from the first byte on its
// direct-TLS port (XEP-0368), is bound to a full JID of the account, and
// carries a message to another user; STARTTLS against the direct-TLS port
// and direct TLS against the plain port both fail to connect.
func TestClientLink(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	for _, tc := range []struct {
		name      string
		addr      string
		directTLS bool
		works     bool
	}{
		{"STARTTLS on the c2s port", srv.C2SAddr, false, true},
		{"direct TLS on the direct-TLS port", srv.C2SDirectTLSAddr, true, true},
		{"direct TLS on the c2s port", srv.C2SAddr, true, false},
		{"STARTTLS on the direct-TLS port", srv.C2SDirectTLSAddr, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := xmpp.New(xmpp.Config{Addr: tc.addr, Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
				BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond, AckTimeout: 5 * time.Second,
				Client: &xmpp.ClientLogin{JID: "bob@" + srv.Domain, Password: "bob-pw", DirectTLS: tc.directTLS,
					TLS: &tls.Config{RootCAs: srv.CertPool, ServerName: srv.Domain}}})
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Run(runCtx) }()
			defer func() {
				stop()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v, want context.Canceled", err)
				}
			}()
			if !tc.works {
				time.Sleep(time.Second) // several attempts at the backoff above
				if c.Connected() {
					t.Fatal("connected with the wrong TLS mode for the port")
				}
				return
			}
			waitConnected(t, c, true)
			if bound := c.LocalAddr(); bound.Bare().String() != "bob@"+srv.Domain || bound.Resourcepart() == "" {
				t.Fatalf("bound to %s, want a full JID of bob@%s", bound, srv.Domain)
			}
			inbox := receiver(ctx, t, srv, "alice")
			err := c.Send(ctx, xmpp.Message{ID: "c1", To: jid.MustParse(srv.JID("alice")), Type: stanza.ChatMessage,
				Payload: body("over " + tc.name)})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := expect(ctx, t, inbox, "over "+tc.name); got.From.Bare().String() != "bob@"+srv.Domain {
				t.Fatalf("alice got it from %s", got.From)
			}
		})
	}
}
