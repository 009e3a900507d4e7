package prosodytest_test

import (
	"context"
	"encoding/xml"
	"os"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"

	"passerelle/internal/prosodytest"
)

type chatMsg struct {
	stanza.Message
	Body string `xml:"body"`
}

func TestStartClientEcho(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"alice": "secret-a"}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sendSelf(ctx, t, srv, "hello 1")
	srv.Restart()
	sendSelf(ctx, t, srv, "hello 2")
}

// sendSelf logs alice in, sends her bare JID a message and waits for it.
func sendSelf(ctx context.Context, t *testing.T, srv *prosodytest.Server, body string) {
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

func TestConfigAndStop(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{HTTPFileShare: true, MAM: true})
	cfg, err := os.ReadFile(srv.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"run_as_root = true", `"mam"`, `Component "mail.example.org"`, `"http_file_share"`, `modules_disabled = { "s2s" }`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q", want)
		}
	}
	if srv.Pid() == 0 || !srv.Running() {
		t.Fatal("not running after Start")
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := srv.DialClient(ctx, "nobody", "x"); err == nil {
		t.Fatal("dial succeeded with Prosody stopped")
	}
}
