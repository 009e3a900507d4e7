package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
	"passerelle/bridge/upload"
)

// TestReverseLargeMail: alice's client uploads a 6 MB mail as an
// AES-256-GCM blob to Prosody's http_file_share itself and sends bob's
// puppet an OX message pointing at it; the gateway downloads, checks and
// decrypts it, and smtp-sink receives the mail from alice with the
// attachment byte-exact.
func TestReverseLargeMail(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfers; run without -short")
	}
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, Upload: true, UploadSizeLimit: 64 << 20})
	env := &reverseEnv{srv: srv, sink: startSink(t)}
	env.gw = startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent),
		Extra: fmt.Sprintf("[egress]\nallow_networks = [\"127.0.0.1\"]\n"+
			"[policy.domains.\"remote.example\"]\nreverse_plaintext = true\n"+
			"[delivery.smarthost]\naddr = %q\ntls = \"none\"\n", env.sink.addr)})
	ctx := ctxT(t, 5*time.Minute)
	env.alice = newRevClient(t, srv.Client(ctx, t, "alice", "alice-pw"))
	env.aliceKey = newUserKey(t, "xmpp:alice@"+srv.Domain)
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: env.alice.sess}, env.aliceKey, "open"); err != nil {
		t.Fatalf("alice publishes her key: %v", err)
	}
	svc, err := jid.Parse(srv.UploadComponent)
	if err != nil {
		t.Fatal(err)
	}
	up, err := upload.New(upload.Config{IQ: clientIQ{env.alice.sess}, Service: svc, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	bob := puppetOf(env, "bob@remote.example")

	attachment := make([]byte, 9<<19) // 4.5 MiB; base64 makes the mail about 6 MB
	rand.Read(attachment)
	m := marker("revlarge")
	raw := []byte(mimeWithAttachment(m, attachment) + "\r\n")
	x, blob, err := payload.SealExternal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if x.URL, err = up.Upload(ctx, bytes.NewReader(blob), int64(len(blob))); err != nil {
		t.Fatalf("alice uploads the blob: %v", err)
	}
	env.alice.send(t, bob, "L1", append(env.sealTo(t, bob, &payload.Payload{Body: "see the mail " + m,
		Mail: &payload.Mail{External: x, MessageID: m + "@remote.example"}}), receiptRequest()...)...)
	if r := env.alice.reply(t, "L1"); r.Received == nil {
		t.Fatalf("refused: %s %q", r.condition(), r.Error.Text)
	}
	c := env.sink.waitComplete(t, "see the attachment "+m, 60*time.Second)
	if got := addrOf(c.header("From")); got != "alice@example.org" {
		t.Errorf("From = %q", got)
	}
	if got := attachmentOf(t, c); !bytes.Equal(got, attachment) {
		t.Fatalf("the attachment (%d bytes) differs from the one sent (%d bytes)", len(got), len(attachment))
	}
	if u, _ := url.Parse(x.URL); env.gw.logContains(u.Path) {
		t.Error("the gateway logged the blob URL's path, a capability")
	}
	t.Logf("mail of %d bytes went through HTTP upload; attachment of %d bytes byte-exact", len(raw), len(attachment))
}

// waitComplete is wait for a large multipart mail: smtp-sink may still be
// writing the file when the marker near its start shows up.
func (s *sink) waitComplete(t *testing.T, marker string, d time.Duration) captured {
	t.Helper()
	deadline := time.Now().Add(d)
	c := s.wait(t, marker, d)
	for {
		_, params, _ := mime.ParseMediaType(c.header("Content-Type"))
		if b := params["boundary"]; b != "" && strings.Contains(c.message, "\n--"+b+"--") {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mail with %q is still incomplete after %v (%d bytes)", marker, d, len(c.message))
		}
		time.Sleep(100 * time.Millisecond)
		c = s.reread(t, marker)
	}
}

// attachmentOf decodes the application/octet-stream part of c.
func attachmentOf(t *testing.T, c captured) []byte {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(c.crlf()))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no attachment part: %v", err)
		}
		if !strings.HasPrefix(p.Header.Get("Content-Type"), "application/octet-stream") {
			continue
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); !strings.EqualFold(cte, "base64") {
			t.Fatalf("attachment Content-Transfer-Encoding %q", cte)
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// clientIQ is a user's session as an upload.IQer: alice asks for her own
// upload slot, as an XMPP client does.
type clientIQ struct{ s *xmpp.Session }

func (c clientIQ) IQ(ctx context.Context, to jid.JID, p xml.TokenReader) ([]byte, error) {
	r, err := c.s.SendIQElement(ctx, p, stanza.IQ{To: to, Type: stanza.GetIQ})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(enc, r); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
