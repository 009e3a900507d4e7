package ejabberdtest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/pep"
	"passerelle/bridge/upload"
	"passerelle/internal/ejabberdtest"
)

// skipShort skips tests that start ejabberd under -short (make unit), as
// the large end-to-end tests do; make test-ejabberd runs them.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ejabberd; run without -short (make test-ejabberd)")
	}
}

type chatMsg struct {
	stanza.Message
	Body string `xml:"body"`
}

func TestStartClientEchoRestart(t *testing.T) {
	skipShort(t)
	srv := ejabberdtest.Start(t, ejabberdtest.Options{Users: map[string]string{"alice": "secret-a"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sendSelf(ctx, t, srv, "hello 1")
	srv.Restart() // the account survives in the mnesia spool
	sendSelf(ctx, t, srv, "hello 2")
	pid := srv.Pid()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still has members after Stop: %v", pid, err)
	}
	if _, err := srv.DialClient(ctx, "alice", "secret-a"); err == nil {
		t.Fatal("dial succeeded with ejabberd stopped")
	}
}

// sendSelf logs alice in, sends her bare JID a message and waits for it.
func sendSelf(ctx context.Context, t *testing.T, srv *ejabberdtest.Server, body string) {
	t.Helper()
	sess := srv.Client(ctx, t, "alice", "secret-a")
	got := make(chan string, 1)
	go func() {
		_ = sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			var m chatMsg
			if start.Name.Local != "message" {
				return nil
			}
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(&m); err != nil {
				return err
			}
			got <- m.Body
			return nil
		}))
	}()
	msg := chatMsg{Message: stanza.Message{To: sess.LocalAddr().Bare(), Type: stanza.ChatMessage}, Body: body}
	if err := sess.Encode(ctx, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	select {
	case b := <-got:
		if b != body {
			t.Fatalf("got body %q, want %q", b, body)
		}
	case <-ctx.Done():
		t.Fatalf("message not received: %v", ctx.Err())
	}
}

// componentQuerier sends IQs from the component session with from set,
// as XEP-0114 requires of a component.
type componentQuerier struct {
	sess *xmpp.Session
	from jid.JID
}

func (q componentQuerier) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	iq.From = q.from
	return pep.ClientQuerier{Session: q.sess}.IQ(ctx, iq, payload)
}

// upload.IQer over the same session.
func (q componentQuerier) uploadIQ() upload.IQer { return uploadIQ(q) }

type uploadIQ componentQuerier

func (q uploadIQ) IQ(ctx context.Context, to jid.JID, p xml.TokenReader) ([]byte, error) {
	r, err := componentQuerier(q).IQ(ctx, stanza.IQ{To: to, Type: stanza.GetIQ}, p)
	if err != nil {
		return nil, err
	}
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

func dialComponent(ctx context.Context, t *testing.T, srv *ejabberdtest.Server) componentQuerier {
	t.Helper()
	sess, err := srv.DialComponent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	go sess.Serve(nil)
	return componentQuerier{sess: sess, from: jid.MustParse(srv.Component)}
}

// TestComponentReadsOXKeyAndUploads is what the gateway needs of the
// deploy configuration: the component reads a user's OX key from her PEP
// without any subscription or presence (force_node_config makes the nodes
// open), and gets an HTTP upload slot whose URL serves what it PUT (the
// upload access rule admits the component).
func TestComponentReadsOXKeyAndUploads(t *testing.T) {
	skipShort(t)
	srv := ejabberdtest.Start(t, ejabberdtest.Options{Users: map[string]string{"alice": "secret-a"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := srv.Client(ctx, t, "alice", "secret-a")
	go alice.Serve(nil)
	key, err := openpgp.NewEntity("xmpp:alice@"+srv.Domain, "", "", keys.GenConfig(time.Now(), rand.Reader))
	if err != nil {
		t.Fatal(err)
	}
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: alice}, key, "open"); err != nil {
		t.Fatalf("alice publishes her key: %v", err)
	}
	comp := dialComponent(ctx, t, srv)
	got, err := pep.NewSource(pep.SourceConfig{Client: comp}).Lookup(ctx, srv.JID("alice"))
	if err != nil {
		t.Fatalf("the component reads alice's key: %v", err)
	}
	if keys.FingerprintOf(got) != keys.FingerprintOf(key) {
		t.Fatalf("read key %s, published %s", keys.FingerprintOf(got), keys.FingerprintOf(key))
	}

	up, err := upload.New(upload.Config{IQ: comp.uploadIQ(), Service: jid.MustParse(srv.UploadComponent), AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 700<<10) // over the component's stanza limit
	rand.Read(blob)
	url, err := up.Upload(ctx, bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatalf("the component uploads: %v", err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	back, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(back, blob) {
		t.Fatalf("GET %s: %s, %d bytes (%v), want the %d bytes uploaded", url, resp.Status, len(back), err, len(blob))
	}
}

func TestRegisterOnExtraHost(t *testing.T) {
	skipShort(t)
	srv := ejabberdtest.Start(t, ejabberdtest.Options{ExtraHosts: []string{"localhost"}})
	if err := srv.RegisterOn("mallory", "localhost", "m-pw"); err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterOn("mallory", "elsewhere.example", "m-pw"); err == nil {
		t.Fatal("registered an account on a host the server does not serve")
	}
}

// TestConfigNeedsWhatTheGatewayNeeds: the test configuration is made from
// the deploy file, and a deploy file that lost a piece the gateway needs
// does not start at all.
func TestConfigNeedsWhatTheGatewayNeeds(t *testing.T) {
	base, err := os.ReadFile(ejabberdtest.DeployConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name, old, new, wantErr string
	}{
		{"no component listener", "    module: ejabberd_service\n", "    module: ejabberd_c2s\n", "ejabberd_service"},
		{"no upload handler", "      /upload: mod_http_upload\n", "", "/upload"},
		{"no pubsub", "  mod_pubsub:\n", "  mod_pubsub_off:\n", "mod_pubsub"},
		{"no offline storage", "  mod_offline:\n", "  mod_offline_off:\n", "mod_offline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(base), tc.old) {
				t.Fatalf("case %d: the deploy file has no %q", i, tc.old)
			}
			broken := strings.Replace(string(base), tc.old, tc.new, 1)
			file := t.TempDir() + "/ejabberd.yml"
			if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ejabberdtest.Config(t, ejabberdtest.Options{BaseConfig: file})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
	cfg, err := ejabberdtest.Config(t, ejabberdtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module: ejabberd_service", "urn:xmpp:openpgp:0:public-keys*", "access_model: open",
		"server: mail.example.org", "put_url: http://127.0.0.1:", "ip: 127.0.0.1"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("generated config lacks %q:\n%s", want, cfg)
		}
	}
	for _, unwanted := range []string{"ejabberd_s2s_in", `ip: '::'`, "the component_secret of passerelle.toml"} {
		if strings.Contains(cfg, unwanted) {
			t.Errorf("generated config has %q", unwanted)
		}
	}
}
