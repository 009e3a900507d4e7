package upload_test

import (
	"net/netip"

	"passerelle/internal/netguard"

	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"mellium.im/xmlstream"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/upload"
	"passerelle/internal/prosodytest"
)

// sessionIQer implements upload.IQer on a raw mellium component session,
// standing in for bridge/xmpp's Component.
type sessionIQer struct {
	sess *mellium.Session
	from jid.JID
}

func (s sessionIQer) IQ(ctx context.Context, to jid.JID, payload xml.TokenReader) ([]byte, error) {
	iq := stanza.IQ{ID: randomID(), From: s.from, To: to, Type: stanza.GetIQ}
	resp, err := s.sess.SendIQ(ctx, iq.Wrap(payload))
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(enc, resp); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func randomID() string { return rand.Text() }

// hideMax wraps an IQer so disco#info queries fail: the Uploader then does
// not learn max-file-size and asks for a slot whatever the size.
type hideMax struct{ upload.IQer }

func (h hideMax) IQ(ctx context.Context, to jid.JID, payload xml.TokenReader) ([]byte, error) {
	tok, err := payload.Token()
	if err != nil {
		return nil, err
	}
	start, _ := tok.(xml.StartElement)
	if start.Name.Space == "http://jabber.org/protocol/disco#info" {
		return []byte(infoError), nil
	}
	return h.IQer.IQ(ctx, to, xmlstream.MultiReader(xmlstream.Token(tok), payload))
}

// refuseIQ answers IQ requests to the component with service-unavailable,
// as bridge/xmpp's Component does without a handler: discovery asks every
// disco#items entry, the component included.
func refuseIQ(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	iq, err := stanza.NewIQ(*start)
	if err != nil || (iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ) {
		return err
	}
	reply := iq.Error(stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	_, err = xmlstream.Copy(t, reply)
	return err
}

// connectComponent logs in as srv's component and serves the session until
// the test ends.
func connectComponent(t testing.TB, srv *prosodytest.Server) sessionIQer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", srv.ComponentAddr)
	if err != nil {
		t.Fatalf("dial component port: %v", err)
	}
	addr := jid.MustParse(srv.Component)
	sess, err := component.NewSession(ctx, addr, []byte(srv.ComponentSecret), conn)
	if err != nil {
		conn.Close()
		t.Fatalf("component handshake: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Serve(mellium.HandlerFunc(refuseIQ))
	}()
	t.Cleanup(func() {
		_ = sess.Close()
		_ = conn.Close()
		<-done
	})
	return sessionIQer{sess: sess, from: addr}
}

// httpHost returns the config to global scope after ExtraConfig's lines
// for the upload Component block (the table form of a Component
// declaration ends the block), so later lines are global options.
const httpHost = "\nComponent \"upload.example.org\" \"http_file_share\" { }\n"

// startProsody starts Prosody with http_file_share reachable on loopback;
// extra goes inside the upload Component block, global[0] in the global
// section.
func startProsody(t testing.TB, limit int64, extra string, global ...string) *prosodytest.Server {
	t.Helper()
	return prosodytest.Start(t, prosodytest.Options{HTTPFileShare: true, UploadSizeLimit: limit,
		ExtraConfig: extra + httpHost + strings.Join(global, "\n")})
}

// newUploader returns an Uploader for srv's component; a zero service
// means discovery on the server domain.
func newUploader(t testing.TB, srv *prosodytest.Server, iq upload.IQer, service string) *upload.Uploader {
	t.Helper()
	cfg := upload.Config{IQ: iq, Domain: jid.MustParse(srv.Domain), Self: jid.MustParse(srv.Component), AllowLoopbackHTTP: true,
		FetchGuard: loopbackGuard, Timeout: time.Minute, MaxSize: 256 << 20, Log: testLogger(t)}
	if service != "" {
		cfg.Service = jid.MustParse(service)
	}
	u, err := upload.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return u
}

// loopbackGuard lets Fetch reach the test servers on 127.0.0.1 only.
var loopbackGuard = netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func testLogger(t testing.TB) *zap.Logger {
	if tt, ok := t.(*testing.T); ok {
		return zaptest.NewLogger(tt, zaptest.Level(zap.InfoLevel))
	}
	return zap.NewNop()
}
