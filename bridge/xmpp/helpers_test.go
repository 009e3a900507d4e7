package xmpp_test

import (
	"context"
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"mellium.im/xmlstream"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

var users = map[string]string{"alice": "alice-pw", "bob": "bob-pw"}

// startComponent runs a Component against srv until the test ends and
// waits for its first session.
func startComponent(t testing.TB, srv *prosodytest.Server, mux *xmpp.Mux, level zap.AtomicLevel) *xmpp.Component {
	t.Helper()
	c := xmpp.New(xmpp.Config{
		Addr: srv.ComponentAddr, Domain: srv.Component, Secret: srv.ComponentSecret,
		Log:        zaptest.NewLogger(t, zaptest.Level(level)),
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		AckTimeout: 5 * time.Second, Mux: mux,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	waitConnected(t, c, true)
	return c
}

func waitConnected(t testing.TB, c *xmpp.Component, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Connected() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Connected() stayed %v", !want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type received struct {
	From jid.JID
	ID   string
	Body string
}

type bodyMsg struct {
	stanza.Message
	Body string `xml:"body"`
}

// receiver logs user in and forwards the messages it gets.
func receiver(ctx context.Context, t testing.TB, srv *prosodytest.Server, user string) <-chan received {
	t.Helper()
	_, ch := login(ctx, t, srv, user)
	return ch
}

// login logs user in, serves the session and forwards the messages it gets.
func login(ctx context.Context, t testing.TB, srv *prosodytest.Server, user string) (*mellium.Session, <-chan received) {
	t.Helper()
	sess := srv.Client(ctx, t, user, users[user])
	ch := make(chan received, 1024)
	go func() {
		_ = sess.Serve(mellium.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "message" {
				return nil
			}
			var m bodyMsg
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(&m); err != nil {
				return err
			}
			select {
			case ch <- received{From: m.From, ID: m.ID, Body: m.Body}:
			default:
			}
			return nil
		}))
	}()
	return sess, ch
}

func body(s string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(s)), xml.StartElement{Name: xml.Name{Local: "body"}})
}

func puppet(t testing.TB, srv *prosodytest.Server) jid.JID {
	return jid.MustParse(`bob\40gmail.com@` + srv.Component)
}

func expect(ctx context.Context, t testing.TB, ch <-chan received, wantBody string) received {
	t.Helper()
	select {
	case r := <-ch:
		if r.Body != wantBody {
			t.Fatalf("received body %q, want %q", r.Body, wantBody)
		}
		return r
	case <-ctx.Done():
		t.Fatalf("message %q not received: %v", wantBody, ctx.Err())
	}
	return received{}
}
