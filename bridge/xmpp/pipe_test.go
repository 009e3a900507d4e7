package xmpp_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/xmpp"
)

// fakeServer is the server end of a net.Pipe speaking just enough XEP-0114
// to let the test script every answer.
type fakeServer struct {
	conn net.Conn
	dec  *xml.Decoder
}

// pipeComponent runs a Component whose only connection is a net.Pipe to a
// fakeServer, with the handshake already done.
func pipeComponent(t *testing.T, ackTimeout time.Duration, opts ...func(*xmpp.Config)) (*xmpp.Component, *fakeServer) {
	t.Helper()
	client, server := net.Pipe()
	var once sync.Once
	dial := func(context.Context) (net.Conn, error) {
		conn := net.Conn(nil)
		once.Do(func() { conn = client })
		if conn == nil {
			return nil, errors.New("fake: no more connections")
		}
		return conn, nil
	}
	cfg := xmpp.Config{Domain: "mail.example.org", Secret: "s", Dial: dial,
		Log: zaptest.NewLogger(t), AckTimeout: ackTimeout, BackoffMin: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	c := xmpp.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); server.Close(); <-done })
	fs := &fakeServer{conn: server, dec: xml.NewDecoder(server)}
	fs.handshake(t)
	waitConnected(t, c, true)
	return c, fs
}

func (fs *fakeServer) handshake(t *testing.T) {
	t.Helper()
	if _, err := fs.dec.Token(); err != nil { // <stream:stream>
		t.Fatal(err)
	}
	fs.write(t, `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='mail.example.org'>`)
	if el := fs.next(t); el.Name.Local != "handshake" {
		t.Fatalf("got %s, want handshake", el.Name.Local)
	}
	fs.write(t, `<handshake/>`)
}

func (fs *fakeServer) write(t *testing.T, s string) {
	t.Helper()
	if _, err := fs.conn.Write([]byte(s)); err != nil {
		t.Fatalf("fake write: %v", err)
	}
}

// next reads one whole element and returns its start tag.
func (fs *fakeServer) next(t *testing.T) xml.StartElement {
	t.Helper()
	for {
		tok, err := fs.dec.Token()
		if err != nil {
			t.Fatalf("fake read: %v", err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			if err := fs.dec.Skip(); err != nil {
				t.Fatalf("fake skip: %v", err)
			}
			return start
		}
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// sendAsync starts a Send and returns its result channel, after reading the
// message and the ping from the fake server.
func sendAsync(t *testing.T, c *xmpp.Component, fs *fakeServer) (<-chan error, string, string) {
	t.Helper()
	res := make(chan error, 1)
	go func() {
		res <- c.Send(context.Background(), xmpp.Message{ID: "m1", To: jid.MustParse("alice@example.org"), Payload: body("x")})
	}()
	msg, ping := fs.next(t), fs.next(t)
	if msg.Name.Local != "message" || attr(msg, "id") != "m1" || ping.Name.Local != "iq" || attr(ping, "to") != "example.org" {
		t.Fatalf("got <%s id=%s> then <%s to=%s>, want message m1 then iq to example.org",
			msg.Name.Local, attr(msg, "id"), ping.Name.Local, attr(ping, "to"))
	}
	return res, attr(ping, "id"), attr(ping, "from")
}

func notYet(t *testing.T, res <-chan error) {
	t.Helper()
	select {
	case err := <-res:
		t.Fatalf("Send returned %v before the ack", err)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPipeAckWaitsForIQResult(t *testing.T) {
	c, fs := pipeComponent(t, 5*time.Second)
	res, pingID, from := sendAsync(t, c, fs)
	if from != "mail.example.org" {
		t.Fatalf("ping from %q", from)
	}
	notYet(t, res)
	fs.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, pingID))
	if err := <-res; err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestPipeBounceBeforeAck(t *testing.T) {
	c, fs := pipeComponent(t, 5*time.Second)
	res, pingID, _ := sendAsync(t, c, fs)
	fs.write(t, `<message type='error' id='m1' from='alice@example.org' to='mail.example.org'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such user</text></error></message>`)
	notYet(t, res) // the bounce alone does not end Send: the ack does
	fs.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, pingID))
	err := <-res
	var se *xmpp.Error
	if !errors.As(err, &se) || se.Condition != "item-not-found" || se.Temporary() || se.Text != "no such user" {
		t.Fatalf("Send: %#v, want permanent item-not-found", err)
	}
}

func TestPipeAckErrorStillAcks(t *testing.T) {
	c, fs := pipeComponent(t, 5*time.Second)
	res, pingID, _ := sendAsync(t, c, fs)
	fs.write(t, fmt.Sprintf(`<iq type='error' id='%s' from='example.org' to='mail.example.org'><error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, pingID))
	if err := <-res; err != nil {
		t.Fatalf("Send with ping unsupported: %v", err)
	}
}

func TestPipeAckTimeout(t *testing.T) {
	c, fs := pipeComponent(t, 200*time.Millisecond)
	res, _, _ := sendAsync(t, c, fs)
	err := <-res
	if !errors.Is(err, xmpp.ErrAckTimeout) || !isTemporary(err) {
		t.Fatalf("Send: %v, want temporary ErrAckTimeout", err)
	}
}

func TestPipeLinkLost(t *testing.T) {
	c, fs := pipeComponent(t, 5*time.Second)
	res, _, _ := sendAsync(t, c, fs)
	fs.conn.Close()
	err := <-res
	if !errors.Is(err, xmpp.ErrLinkLost) || !isTemporary(err) {
		t.Fatalf("Send: %v, want temporary ErrLinkLost", err)
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// TestPipeSharedAck sends three messages while a ping is unanswered: no
// second ping goes out while one is in flight (the three messages follow
// it directly), and once it is answered the three share the pings that
// follow them, each Send returning only after a ping sent after its own
// message was answered.
func TestPipeSharedAck(t *testing.T) {
	c, fs := pipeComponent(t, 5*time.Second)
	first, ping1, _ := sendAsync(t, c, fs)
	res := make(chan error, 3)
	for i := range 3 {
		go func() {
			res <- c.Send(context.Background(), xmpp.Message{ID: fmt.Sprintf("m%d", i+2),
				To: jid.MustParse("alice@example.org"), Payload: body("x")})
		}()
	}
	for range 3 {
		if el := fs.next(t); el.Name.Local != "message" {
			t.Fatalf("got <%s> while a ping was in flight, want the three messages", el.Name.Local)
		}
	}
	fs.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, ping1))
	if err := <-first; err != nil {
		t.Fatalf("first Send: %v", err)
	}
	// Answer every further ping, from another goroutine, until the three
	// Sends return.
	var pings atomic.Int32
	go func() {
		for {
			tok, err := fs.dec.Token()
			if err != nil {
				return
			}
			if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "iq" {
				pings.Add(1)
				_ = fs.dec.Skip()
				fmt.Fprintf(fs.conn, `<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, attr(el, "id"))
			}
		}
	}()
	for range 3 {
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a Send never returned")
		}
	}
	if n := pings.Load(); n < 1 || n > 3 {
		t.Errorf("%d pings for 3 messages", n)
	}
	t.Logf("3 messages acknowledged by %d ping(s)", pings.Load())
}

// TestPipeBounceOnlyFromRecipient: a bounce fails the Send only if it
// comes from the recipient (bare or full JID) or its server; anyone else
// who knows the stanza id cannot turn a delivery into a DSN.
func TestPipeBounceOnlyFromRecipient(t *testing.T) {
	tests := []struct {
		from       string
		wantBounce bool
	}{
		{"alice@example.org", true},
		{"alice@example.org/phone", true},
		{"example.org", true},
		{"mallory@evil.example", false},
		{"bob@example.org", false},
		{"evil.example", false},
	}
	for i, tc := range tests {
		t.Run(tc.from, func(t *testing.T) {
			c, fs := pipeComponent(t, 5*time.Second)
			res, pingID, _ := sendAsync(t, c, fs)
			fs.write(t, fmt.Sprintf(`<message type='error' id='m1' from='%s' to='mail.example.org'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`, tc.from))
			fs.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, pingID))
			err := <-res
			var se *xmpp.Error
			if got := errors.As(err, &se); got != tc.wantBounce {
				t.Fatalf("%d: bounce from %s: Send returned %v, want bounce=%v", i, tc.from, err, tc.wantBounce)
			}
		})
	}
}
