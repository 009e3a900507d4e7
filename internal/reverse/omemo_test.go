package reverse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/omemo"
	"passerelle/bridge/payload"
	gomime "passerelle/gateway/mime"
)

// testOMEMO is the gateway's side with the user's bundles served directly.
type testOMEMO struct {
	gw, user *omemo.Store
}

func (o *testOMEMO) Decrypt(ctx context.Context, puppet, from string, e *omemo.Encrypted) ([]byte, error) {
	return o.gw.Decrypt(ctx, puppet, from, e)
}

func (o *testOMEMO) Repair(ctx context.Context, puppet string, from jid.JID, sid uint32) (*omemo.Encrypted, error) {
	return o.gw.KeyTransport(ctx, puppet, from.String(), []uint32{sid}, bundlesOf(o.user, from.String()))
}

func bundlesOf(s *omemo.Store, j string) omemo.BundleFetcher {
	return func(ctx context.Context, id uint32) (*omemo.Bundle, error) {
		info, err := s.Device(ctx, j)
		return info.Bundle, err
	}
}

// An OMEMO message to a puppet is mailed with its text; one the puppet's
// device cannot decrypt (its session lost) is refused and answered with a
// key transport message, after which the user's next message is mailed.
func TestOMEMOReplyAndRepair(t *testing.T) {
	ctx := context.Background()
	gwDir := t.TempDir()
	o := &testOMEMO{}
	var err error
	if o.gw, err = omemo.NewStore(omemo.StoreConfig{Dir: gwDir}); err != nil {
		t.Fatal(err)
	}
	if o.user, err = omemo.NewStore(omemo.StoreConfig{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Limits{}, nil, func(c *Config) { c.OMEMO = o })
	const alice = "alice@example.org"
	puppet := `bob\40remote.example@` + component
	pi, err := o.gw.Device(ctx, puppet)
	if err != nil {
		t.Fatal(err)
	}
	backup, _ := os.ReadDir(gwDir)
	saved := map[string][]byte{}
	for _, e := range backup {
		saved[e.Name()], _ = os.ReadFile(filepath.Join(gwDir, e.Name()))
	}
	send := func(id, text string) {
		t.Helper()
		e, err := o.user.Encrypt(ctx, alice, puppet, []uint32{pi.DeviceID}, bundlesOf(o.gw, puppet), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		x, _ := e.Marshal()
		f.deliver(t, stanzaXML(alice+"/phone", puppet, id, "<body>OMEMO fallback</body>"+string(x)))
	}
	send("o1", "first reply MARK-1")
	if len(f.spool.envs) != 1 || !strings.Contains(string(f.spool.bodies[0]), "first reply MARK-1") ||
		strings.Contains(string(f.spool.bodies[0]), "OMEMO fallback") {
		t.Fatalf("spooled %d; body %q; sent %+v", len(f.spool.envs), f.spool.bodies, f.sender.sent)
	}

	// The gateway answers once (a forwarded mail), so alice's session is
	// acknowledged and her next messages are plain Signal messages.
	ai, _ := o.user.Device(ctx, alice)
	fwd, err := o.gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, bundlesOf(o.user, alice), []byte("a mail"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.user.Decrypt(ctx, alice, puppet, fwd); err != nil {
		t.Fatal(err)
	}
	// The gateway loses the session: its state from before it.
	for name, b := range saved {
		if err := os.WriteFile(filepath.Join(gwDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if o.gw, err = omemo.NewStore(omemo.StoreConfig{Dir: gwDir}); err != nil {
		t.Fatal(err)
	}
	n := len(f.sender.sent)
	send("o2", "lost MARK-2")
	if len(f.spool.envs) != 1 {
		t.Fatalf("a message on a lost session was mailed")
	}
	var kt *omemo.Encrypted
	for _, m := range f.sender.sent[n:] {
		if i := strings.Index(m.xml, "<encrypted"); i >= 0 {
			end := strings.Index(m.xml, "</encrypted>") + len("</encrypted>")
			if kt, err = omemo.Parse([]byte(m.xml[i:end])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if kt == nil || kt.Payload != nil {
		t.Fatalf("no key transport message among %+v", f.sender.sent[n:])
	}
	if body, err := o.user.Decrypt(ctx, alice, puppet, kt); err != nil || body != nil {
		t.Fatalf("alice opens the key transport: %q %v", body, err)
	}
	send("o3", "after repair MARK-3")
	if len(f.spool.envs) != 2 || !strings.Contains(string(f.spool.bodies[1]), "after repair MARK-3") {
		t.Fatalf("after the repair: spooled %d, sent %+v", len(f.spool.envs), f.sender.sent[n:])
	}
}

type mapFetcher map[string][]byte

func (m mapFetcher) Fetch(_ context.Context, url string, max int64) ([]byte, error) {
	b, ok := m[url]
	if !ok || int64(len(b)) > max {
		return nil, fmt.Errorf("no %s", url)
	}
	return b, nil
}

// A file an OMEMO client sends as an aesgcm:// link becomes a MIME
// attachment of the mail, byte-identical, named after the upload.
func TestOMEMOAttachmentBecomesMIME(t *testing.T) {
	ctx := context.Background()
	o := &testOMEMO{}
	var err error
	if o.gw, err = omemo.NewStore(omemo.StoreConfig{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if o.user, err = omemo.NewStore(omemo.StoreConfig{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0x00, 'J'}, 5000)
	x, blob, err := payload.SealExternal(photo)
	if err != nil {
		t.Fatal(err)
	}
	x.URL = "https://upload.example.org/abc/photo.jpg"
	link, err := x.AESGCMURL()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Limits{}, nil, func(c *Config) { c.OMEMO, c.Fetcher = o, mapFetcher{x.URL: blob} })
	const alice = "alice@example.org"
	puppet := `bob\40remote.example@` + component
	pi, _ := o.gw.Device(ctx, puppet)
	e, err := o.user.Encrypt(ctx, alice, puppet, []uint32{pi.DeviceID}, bundlesOf(o.gw, puppet), []byte(link))
	if err != nil {
		t.Fatal(err)
	}
	xe, _ := e.Marshal()
	f.deliver(t, stanzaXML(alice+"/phone", puppet, "a1", "<body>"+link+"</body>"+string(xe)))
	if len(f.spool.envs) != 1 {
		t.Fatalf("not spooled; sent %+v", f.sender.sent)
	}
	m, err := gomime.ParseAttachments(f.spool.bodies[0], gomime.Limits{}, func(a gomime.Attachment, d []byte) error {
		if a.Filename != "photo.jpg" || a.ContentType != "image/jpeg" || !bytes.Equal(d, photo) {
			t.Errorf("attachment %+v, %d bytes", a, len(d))
		}
		return nil
	})
	if err != nil || len(m.Attachments) != 1 {
		t.Fatalf("%v; attachments %+v\n%.600s", err, m, f.spool.bodies[0])
	}
}
