package e2e

import (
	"context"
	"encoding/xml"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
)

// received is one <message/> as a client saw it, with the parts the tests
// look at.
type received struct {
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
	ID      string `xml:"id,attr"`
	Type    string `xml:"type,attr"`
	Subject string `xml:"subject"`
	Body    string `xml:"body"`
	OpenPGP *struct {
		Data string `xml:",chardata"`
	} `xml:"urn:xmpp:openpgp:0 openpgp"`
	Mail *struct {
		Encoding string `xml:"encoding,attr"`
		Data     string `xml:",chardata"`
	} `xml:"urn:passerelle:mail:0 mail"`
	OriginID *struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:sid:0 origin-id"`
	EME *struct {
		Namespace string `xml:"namespace,attr"`
	} `xml:"urn:xmpp:eme:0 encryption"`
	Store *struct{} `xml:"urn:xmpp:hints store"`
	// Event is a PEP notification (XEP-0163): ejabberd sends the owner's
	// own resources one for each node they publish to, Prosody only to
	// resources whose caps ask for it. It is not mail.
	Event *struct{} `xml:"http://jabber.org/protocol/pubsub#event event"`
}

// inbox is a logged-in XMPP user that collects the messages it receives.
type inbox struct {
	sess *xmpp.Session
	msgs chan received
}

func newInbox(ctx context.Context, t *testing.T, srv clientDialer, user, pw string) *inbox {
	t.Helper()
	in := &inbox{sess: srv.Client(ctx, t, user, pw), msgs: make(chan received, 1000)}
	go in.sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local != "message" {
			return nil
		}
		var m received
		d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r))
		if err := d.Decode(&m); err != nil {
			return nil
		}
		if m.Type != "error" && m.Event == nil {
			in.msgs <- m
		}
		return nil
	}))
	return in
}

// next waits for the next message.
func (in *inbox) next(t *testing.T, d time.Duration) received {
	t.Helper()
	select {
	case m := <-in.msgs:
		return m
	case <-time.After(d):
		t.Fatalf("no XMPP message arrived within %v", d)
	}
	return received{}
}

// none asserts that nothing arrives for d.
func (in *inbox) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.msgs:
		t.Fatalf("unexpected message from %s: %.200s", m.From, m.Body)
	case <-time.After(d):
	}
}
