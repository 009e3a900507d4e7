package xmpp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

func TestSendToOnlineUser(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inbox := receiver(ctx, t, srv, "alice")
	c := startComponent(t, srv, nil, zap.NewAtomicLevelAt(zap.DebugLevel))
	from := puppet(t, srv)
	err := c.Send(ctx, xmpp.Message{ID: "m1", From: from, To: jid.MustParse(srv.JID("alice")),
		Type: stanza.ChatMessage, Payload: body("hello alice")})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := expect(ctx, t, inbox, "hello alice")
	if !got.From.Equal(from) || got.ID != "m1" {
		t.Fatalf("received from %s id %q, want %s m1", got.From, got.ID, from)
	}
}

// TestSendErrors records what Prosody 0.12 answers and how it is classified.
func TestSendErrors(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users,
		ExtraConfig: "\nComponent \"offline.example.org\"\n  component_secret = \"unused\"\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := startComponent(t, srv, nil, zap.NewAtomicLevelAt(zap.InfoLevel))
	tests := []struct {
		name, to      string
		wantCondition string
		wantTemporary bool
	}{
		{"unknown local user", "nobody@" + srv.Domain, "service-unavailable", false},
		{"remote domain, s2s disabled", "someone@elsewhere.example", "not-allowed", false},
		{"unconnected component", "x@offline.example.org", "remote-server-timeout", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkSendError(ctx, t, c, tc.to, tc.wantCondition, tc.wantTemporary)
		})
	}
}

func TestSendRemoteS2SFailure(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users, S2S: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := startComponent(t, srv, nil, zap.NewAtomicLevelAt(zap.InfoLevel))
	checkSendError(ctx, t, c, "someone@nxdomain.invalid", "remote-server-not-found", true)
}

func checkSendError(ctx context.Context, t *testing.T, c *xmpp.Component, to, wantCondition string, wantTemporary bool) {
	t.Helper()
	err := c.Send(ctx, xmpp.Message{To: jid.MustParse(to), Payload: body("x")})
	t.Logf("Send to %s: %v", to, err)
	var se *xmpp.Error
	if !errors.As(err, &se) || se.Condition != wantCondition {
		t.Fatalf("err %v, want condition %s", err, wantCondition)
	}
	var te interface{ Temporary() bool }
	if !errors.As(err, &te) || te.Temporary() != wantTemporary {
		t.Fatalf("err %v, want temporary=%v", err, wantTemporary)
	}
}
