package e2e

import (
	"context"
	"encoding/xml"
	"io"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/internal/xmpptest"
)

// revMsg is a message an XMPP client received, errors included.
type revMsg struct {
	From  string `xml:"from,attr"`
	ID    string `xml:"id,attr"`
	Type  string `xml:"type,attr"`
	Body  string `xml:"body"`
	Error *struct {
		Type string `xml:"type,attr"`
		Text string `xml:"urn:ietf:params:xml:ns:xmpp-stanzas text"`
		Any  []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"error"`
	Received *struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:receipts received"`
	OpenPGP *struct {
		Data string `xml:",chardata"`
	} `xml:"urn:xmpp:openpgp:0 openpgp"`
	Event *struct{} `xml:"http://jabber.org/protocol/pubsub#event event"` // see received.Event
}

// condition is the defined condition of an error reply.
func (m revMsg) condition() string {
	if m.Error == nil {
		return ""
	}
	for _, c := range m.Error.Any {
		if c.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return ""
}

// revClient is a logged-in XMPP user that sends to puppets and collects
// everything it receives.
type revClient struct {
	sess *xmpp.Session
	msgs chan revMsg
	held []revMsg // received, not yet asked for (test goroutine only)
}

func newRevClient(t *testing.T, sess *xmpp.Session) *revClient {
	c := &revClient{sess: sess, msgs: make(chan revMsg, 100)}
	go c.sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local != "message" {
			return nil
		}
		var m revMsg
		if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(&m); err == nil && m.Event == nil {
			c.msgs <- m
		}
		return nil
	}))
	return c
}

// dialOn logs user in on another VirtualHost of srv (whose certificate
// names it, e.g. "localhost").
func dialOn(ctx context.Context, t *testing.T, srv *xmppServer, host, user, pw string) *xmpp.Session {
	t.Helper()
	sess, err := xmpptest.DialClient(ctx, srv.C2SAddr, host, user, pw, srv.CertPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// send sends a chat message with the given children to the puppet.
func (c *revClient) send(t *testing.T, to, id string, children ...xml.Token) {
	t.Helper()
	j, err := jid.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	msg := stanza.Message{ID: id, To: j, Type: stanza.ChatMessage}.Wrap(&tokenList{toks: children})
	if err := c.sess.Send(ctxT(t, 10*time.Second), msg); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// next waits for the next message matching keep; others are kept for
// later calls.
func (c *revClient) next(t *testing.T, d time.Duration, keep func(revMsg) bool) revMsg {
	t.Helper()
	for i, m := range c.held {
		if keep(m) {
			c.held = append(c.held[:i:i], c.held[i+1:]...)
			return m
		}
	}
	timeout := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			if keep(m) {
				return m
			}
			c.held = append(c.held, m)
		case <-timeout:
			t.Fatalf("no matching XMPP message within %v", d)
		}
	}
}

// reply waits for the answer to the message with id: a receipt or an error.
func (c *revClient) reply(t *testing.T, id string) revMsg {
	t.Helper()
	return c.next(t, 30*time.Second, func(m revMsg) bool {
		return (m.Type == "error" && m.ID == id) || (m.Received != nil && m.Received.ID == id)
	})
}

func elem(space, local, text string, attrs ...string) []xml.Token {
	start := xml.StartElement{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	if text == "" {
		return []xml.Token{start, start.End()}
	}
	return []xml.Token{start, xml.CharData(text), start.End()}
}

func receiptRequest() []xml.Token { return elem("urn:xmpp:receipts", "request", "") }

type tokenList struct{ toks []xml.Token }

func (l *tokenList) Token() (xml.Token, error) {
	if len(l.toks) == 0 {
		return nil, io.EOF
	}
	t := l.toks[0]
	l.toks = l.toks[1:]
	return t, nil
}
