package prosodytest_test

import (
	"context"
	"encoding/xml"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/internal/dnstest"
	"passerelle/internal/prosodytest"
)

// fedMsg is a received <message/>, with the error condition of a bounce.
type fedMsg struct {
	stanza.Message
	Body  string `xml:"body"`
	Error struct {
		Children []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"error"`
}

// condition is the RFC 6120 §8.3.3 condition of an error bounce.
func (m fedMsg) condition() string {
	for _, c := range m.Error.Children {
		if c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return ""
}

// inbox serves sess and delivers every <message/> it receives.
func inbox(t *testing.T, sess *xmpp.Session) <-chan fedMsg {
	t.Helper()
	ch := make(chan fedMsg, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "message" {
				return nil
			}
			var m fedMsg
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(&m); err != nil {
				return err
			}
			ch <- m
			return nil
		}))
	}()
	t.Cleanup(func() { _ = sess.Close(); <-done })
	return ch
}

func component(ctx context.Context, t *testing.T, s *prosodytest.Server) (*xmpp.Session, <-chan fedMsg) {
	t.Helper()
	sess, err := s.DialComponent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sess, inbox(t, sess)
}

func send(ctx context.Context, t *testing.T, sess *xmpp.Session, from, to, body string) {
	t.Helper()
	m := fedMsg{Message: stanza.Message{From: jid.MustParse(from), To: jid.MustParse(to), Type: stanza.NormalMessage}, Body: body}
	if err := sess.Encode(ctx, m); err != nil {
		t.Fatalf("send %s -> %s: %v", from, to, err)
	}
}

// await returns the next message on ch or fails the test at ctx's end.
func await(ctx context.Context, t *testing.T, ch <-chan fedMsg, what string) fedMsg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-ctx.Done():
		t.Fatalf("%s: nothing received: %v", what, ctx.Err())
		return fedMsg{}
	}
}

func expectBody(ctx context.Context, t *testing.T, ch <-chan fedMsg, from, body string) {
	t.Helper()
	m := await(ctx, t, ch, body)
	if m.Body != body || m.From.String() != from || m.Type == stanza.ErrorMessage {
		t.Fatalf("got %s from %s (error %s), want %q from %s", m.Body, m.From, m.condition(), body, from)
	}
}

// TestFederation: two Prosody servers on 127.0.0.2 and 127.0.0.3 federate
// over s2s with dialback, resolving each other through dnstest only: a
// client on each side messages the other, and the components mail.a.example
// and mail.b.example message each other (the peer route's link).
func TestFederation(t *testing.T) {
	d := dnstest.Start(t)
	srv := prosodytest.StartFederation(t, d,
		prosodytest.Options{Domain: "a.example", Users: map[string]string{"alice": "pw-a"}},
		prosodytest.Options{Domain: "b.example", Users: map[string]string{"bob": "pw-b"}})
	a, b := srv[0], srv[1]
	if a.Interface != "127.0.0.2" || b.Interface != "127.0.0.3" {
		t.Fatalf("interfaces %s %s", a.Interface, b.Interface)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alice := a.Client(ctx, t, "alice", "pw-a")
	aliceIn := inbox(t, alice)
	bob := b.Client(ctx, t, "bob", "pw-b")
	bobIn := inbox(t, bob)
	send(ctx, t, alice, alice.LocalAddr().String(), "bob@b.example", "hello bob")
	expectBody(ctx, t, bobIn, alice.LocalAddr().String(), "hello bob")
	send(ctx, t, bob, bob.LocalAddr().String(), "alice@a.example", "hello alice")
	expectBody(ctx, t, aliceIn, bob.LocalAddr().String(), "hello alice")

	ca, caIn := component(ctx, t, a)
	cb, cbIn := component(ctx, t, b)
	send(ctx, t, ca, "mail.a.example", "mail.b.example", "peer a->b")
	expectBody(ctx, t, cbIn, "mail.a.example", "peer a->b")
	send(ctx, t, cb, "mail.b.example", "mail.a.example", "peer b->a")
	expectBody(ctx, t, caIn, "mail.b.example", "peer b->a")
	if n := d.Queries("_xmpp-server._tcp.mail.a.example", "SRV"); n == 0 {
		t.Error("b.example never resolved mail.a.example: the dialback back-connection was not tested")
	}
}

// TestFederationNeedsComponentDNS: without DNS for mail.a.example (only
// a.example published), b.example cannot dialback the component's stream
// (XEP-0220 §2.3: the receiving server connects to the sender's
// authoritative server for the stream's from), the link never
// authenticates and, at s2s_timeout, a.example bounces the message to the
// sender; this is why PublishDNS publishes the component names too.
func TestFederationNeedsComponentDNS(t *testing.T) {
	d := dnstest.Start(t)
	short := "s2s_timeout = 2\n"
	srv := prosodytest.StartFederation(t, d,
		prosodytest.Options{Domain: "a.example", GlobalConfig: short},
		prosodytest.Options{Domain: "b.example", GlobalConfig: short})
	a, b := srv[0], srv[1]
	d.Remove("_xmpp-server._tcp.mail.a.example")
	d.Remove("mail.a.example")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, caIn := component(ctx, t, a)
	_, cbIn := component(ctx, t, b)
	send(ctx, t, ca, "mail.a.example", "mail.b.example", "unverifiable")
	select {
	case m := <-caIn:
		if m.Type != stanza.ErrorMessage || m.condition() != "remote-server-timeout" {
			t.Fatalf("got %+v, want a remote-server-timeout bounce", m)
		}
		if n := d.Queries("_xmpp-server._tcp.mail.a.example", "SRV"); n == 0 {
			t.Fatal("b.example never looked mail.a.example up: the bounce has another cause")
		}
	case m := <-cbIn:
		t.Fatalf("delivered without dialback for mail.a.example: %+v", m)
	case <-ctx.Done():
		t.Fatal("no bounce")
	}
}
