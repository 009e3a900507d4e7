package xmpp_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
)

// blockingMux registers an IQ handler for <block xmlns='urn:test'/> that
// reports each call on entered and answers only when release is closed.
func blockingMux(entered chan<- string, release <-chan struct{}) *xmpp.Mux {
	mux := xmpp.NewMux()
	mux.HandleIQ(stanza.GetIQ, xml.Name{Space: "urn:test", Local: "block"},
		func(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
			if _, err := xmlstream.Copy(discardWriter{}, payload); err != nil {
				return nil, err
			}
			entered <- iq.ID
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:test", Local: "done"}}), nil
		})
	return mux
}

func (fs *fakeServer) blockIQ(t *testing.T, id string) {
	t.Helper()
	fs.write(t, fmt.Sprintf(`<iq type='get' id='%s' from='alice@example.org/phone' to='mail.example.org'><block xmlns='urn:test'/></iq>`, id))
}

// TestPipeSendAcksWhileIQHandlerBusy: an IQ handler that takes its time
// (making a puppet key, say) must not stop the link from reading the
// answer to Send's ack ping. Before IQs ran off the Serve goroutine this
// Send timed out.
func TestPipeSendAcksWhileIQHandlerBusy(t *testing.T) {
	entered, release := make(chan string, 4), make(chan struct{})
	c, fs := pipeComponent(t, 2*time.Second, func(cfg *xmpp.Config) { cfg.Mux = blockingMux(entered, release) })
	fs.blockIQ(t, "q1")
	if id := <-entered; id != "q1" {
		t.Fatalf("handler got %q", id)
	}
	res, pingID, _ := sendAsync(t, c, fs)
	fs.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, pingID))
	if err := <-res; err != nil {
		t.Fatalf("Send while an IQ handler is busy: %v", err)
	}
	close(release)
	answer := fs.next(t)
	if answer.Name.Local != "iq" || attr(answer, "id") != "q1" || attr(answer, "type") != "result" ||
		attr(answer, "to") != "alice@example.org/phone" {
		t.Fatalf("answer %v, want result q1 to alice@example.org/phone", answer)
	}
}

// TestPipeIQPoolFull: with every worker busy and the queue full, a further
// request is refused at once with resource-constraint (wait); the queued
// ones are answered once the workers are free.
func TestPipeIQPoolFull(t *testing.T) {
	entered, release := make(chan string, 4), make(chan struct{})
	_, fs := pipeComponent(t, 2*time.Second, func(cfg *xmpp.Config) {
		cfg.Mux, cfg.IQWorkers, cfg.IQQueue = blockingMux(entered, release), 1, 1
	})
	fs.blockIQ(t, "q1") // runs
	<-entered
	fs.blockIQ(t, "q2") // waits in the queue
	fs.blockIQ(t, "q3") // refused
	refusal := fs.nextRaw(t)
	if refusal.id != "q3" || refusal.typ != "error" || refusal.condition != "resource-constraint" || refusal.errType != "wait" {
		t.Fatalf("third request answered %+v, want error q3 resource-constraint/wait", refusal)
	}
	close(release)
	for _, want := range []string{"q1", "q2"} {
		got := fs.nextRaw(t)
		if got.id != want || got.typ != "result" {
			t.Fatalf("answer %+v, want result %s", got, want)
		}
	}
}

type rawIQ struct {
	id, typ, condition, errType string
}

// nextRaw reads one <iq/> and its error condition, if any.
func (fs *fakeServer) nextRaw(t *testing.T) rawIQ {
	t.Helper()
	var v struct {
		ID    string `xml:"id,attr"`
		Type  string `xml:"type,attr"`
		Error *struct {
			Type  string `xml:"type,attr"`
			Inner []struct {
				XMLName xml.Name
			} `xml:",any"`
		} `xml:"error"`
	}
	for {
		tok, err := fs.dec.Token()
		if err != nil {
			t.Fatalf("fake read: %v", err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			if err := fs.dec.DecodeElement(&v, &start); err != nil {
				t.Fatalf("fake decode: %v", err)
			}
			r := rawIQ{id: v.ID, typ: v.Type}
			if v.Error != nil {
				r.errType = v.Error.Type
				if len(v.Error.Inner) > 0 {
					r.condition = v.Error.Inner[0].XMLName.Local
				}
			}
			return r
		}
	}
}

// TestPipeTraceRedacts (L3): the debug trace shows the stanzas sent and
// received but not the handshake digest nor any body, whatever the chunks.
func TestPipeTraceRedacts(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	c, fs := pipeComponent(t, 5*time.Second, func(cfg *xmpp.Config) { cfg.Log = zap.New(core) })
	res := make(chan error, 1)
	go func() {
		res <- c.Send(context.Background(), xmpp.Message{ID: "m1", To: jid.MustParse("alice@example.org"), Payload: body("SECRET-OUT")})
	}()
	fs.next(t)
	ping := fs.next(t)
	fs.write(t, `<message from='alice@example.org/p' to='bob\40x.example@mail.example.org' id='in1'><bo`)
	fs.write(t, `dy>SECRET-`)
	fs.write(t, `IN</body></message>`)
	fs.write(t, fmt.Sprintf(`<iq type='result' id='%s' from='example.org' to='mail.example.org'/>`, attr(ping, "id")))
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, e := range logs.FilterLoggerName("xmpp.trace").All() {
		all.WriteString(e.ContextMap()["xml"].(string))
	}
	trace := all.String()
	if strings.Contains(trace, "SECRET") || !strings.Contains(trace, "<body>[redacted") || !strings.Contains(trace, "<handshake>[redacted") {
		t.Fatalf("trace:\n%s", trace)
	}
}
