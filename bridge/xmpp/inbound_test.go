package xmpp_test

import (
	"context"
	"encoding/xml"
	"testing"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

const nsDiscoInfo = "http://jabber.org/protocol/disco#info"

type inbound struct {
	to, body string
}

// TestInbound: a user's IQ to the component reaches the registered handler,
// an unknown IQ gets service-unavailable, a message to a puppet JID reaches
// the message handler, and a handler panic does not take the link down.
func TestInbound(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs := make(chan inbound, 4)
	mux := xmpp.NewMux()
	mux.HandleIQ(stanza.GetIQ, xml.Name{Space: nsDiscoInfo, Local: "query"}, discoInfo)
	mux.HandleIQ(stanza.GetIQ, xml.Name{Space: "urn:test", Local: "panic"},
		func(context.Context, stanza.IQ, xml.TokenReader) (xml.TokenReader, error) { panic("boom") })
	mux.HandleMessage(func(_ context.Context, msg stanza.Message, r xml.TokenReader) error {
		var m bodyMsg
		err := xml.NewTokenDecoder(r).Decode(&m)
		msgs <- inbound{to: msg.To.String(), body: m.Body}
		return err
	})
	startComponent(t, srv, mux, zap.NewAtomicLevelAt(zap.InfoLevel))
	sess, _ := login(ctx, t, srv, "alice")

	comp := jid.MustParse(srv.Component)
	if typ, child := query(ctx, t, sess, comp, nsDiscoInfo, "query"); typ != "result" || child != "identity" {
		t.Fatalf("disco#info: type %q first child %q, want result identity", typ, child)
	}
	if typ, child := query(ctx, t, sess, comp, "urn:test", "unknown"); typ != "error" || child != "error" {
		t.Fatalf("unknown IQ: type %q child %q, want error", typ, child)
	}
	if typ, _ := query(ctx, t, sess, comp, "urn:test", "panic"); typ != "error" {
		t.Fatalf("panicking handler: type %q, want error", typ)
	}
	to := jid.MustParse(`bob\40gmail.com@` + srv.Component)
	err := sess.Send(ctx, stanza.Message{To: to, Type: stanza.ChatMessage}.Wrap(body("hi bob")))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-msgs:
		if got.to != to.String() || got.body != "hi bob" {
			t.Fatalf("message handler got %+v", got)
		}
	case <-ctx.Done():
		t.Fatal("message to puppet not handled")
	}
}

func discoInfo(_ context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	if _, err := xmlstream.Copy(discardWriter{}, payload); err != nil {
		return nil, err
	}
	ident := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "identity"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "category"}, Value: "gateway"},
		{Name: xml.Name{Local: "type"}, Value: "smtp"},
	}})
	return xmlstream.Wrap(ident, xml.StartElement{Name: xml.Name{Space: nsDiscoInfo, Local: "query"}}), nil
}

type discardWriter struct{}

func (discardWriter) EncodeToken(xml.Token) error { return nil }

// query sends an IQ get with an empty <local xmlns=ns/> and returns the
// response type and the local name of the first element inside the IQ.
func query(ctx context.Context, t *testing.T, sess *mellium.Session, to jid.JID, ns, local string) (string, string) {
	t.Helper()
	req := stanza.IQ{To: to, Type: stanza.GetIQ}.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: ns, Local: local}}))
	resp, err := sess.SendIQ(ctx, req)
	if err != nil {
		t.Fatalf("SendIQ %s: %v", local, err)
	}
	defer resp.Close()
	tok, err := resp.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	iq, _ := stanza.NewIQ(start)
	child := ""
	for {
		tok, err := resp.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local != local {
			child = se.Name.Local
			break
		} else if ok && se.Name.Local == local && iq.Type == stanza.ResultIQ {
			continue
		}
	}
	return string(iq.Type), child
}

// TestInboundAsyncIQ: a HandleIQAsync handler may itself send an IQ and
// wait for the answer, which the link's Serve loop delivers; a handler on
// HandleIQ doing the same would wait for the Serve loop it blocks.
func TestInboundAsyncIQ(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mux := xmpp.NewMux()
	var comp *xmpp.Component
	mux.HandleIQAsync(stanza.GetIQ, xml.Name{Space: "urn:test", Local: "ask"},
		func(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
			// Ask the server something, as the peer route asks the sending
			// gateway for its key before answering a transfer.
			_, err := comp.IQ(ctx, stanza.IQ{To: jid.MustParse(srv.Domain), Type: stanza.GetIQ},
				xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsDiscoInfo, Local: "query"}}))
			if err != nil {
				return nil, err
			}
			return discoInfo(ctx, iq, xmlstream.MultiReader())
		})
	comp = startComponent(t, srv, mux, zap.NewAtomicLevelAt(zap.InfoLevel))
	sess, _ := login(ctx, t, srv, "alice")
	if typ, child := query(ctx, t, sess, jid.MustParse(srv.Component), "urn:test", "ask"); typ != "result" || child != "query" {
		t.Fatalf("async IQ: type %q first child %q, want result query", typ, child)
	}
}
