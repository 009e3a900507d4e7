package omemo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"passerelle/internal/fsutil"
)

func newTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := NewStore(StoreConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fetcherOf serves the bundles of jid's device in s.
func fetcherOf(t *testing.T, s *Store, jid string) BundleFetcher {
	return func(ctx context.Context, id uint32) (*Bundle, error) {
		info, err := s.Device(ctx, jid)
		if err != nil {
			return nil, err
		}
		if info.DeviceID != id {
			return nil, ErrBundleNotFound
		}
		return info.Bundle, nil
	}
}

func TestRoundTripBothWays(t *testing.T) {
	ctx := context.Background()
	gw := newTestStore(t, t.TempDir())
	user := newTestStore(t, t.TempDir())
	const puppet, alice = `bob\40example.net@mail.example.org`, "alice@example.org"
	ai, err := user.Device(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	pi, err := gw.Device(ctx, puppet)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"première: Grüße 😀", "second", "third"} {
		e, err := gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetcherOf(t, user, alice), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		// Until alice answers, every message carries the session
		// setup (a PreKeySignalMessage), as libsignal does.
		if !e.Keys[0].PreKey {
			t.Errorf("message %d: not a prekey message before any answer", i)
		}
		// Through the wire format.
		x, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(x, []byte(body)) {
			t.Fatal("plaintext in the element")
		}
		e2, err := Parse(x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := user.Decrypt(ctx, alice, puppet, e2)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != body {
			t.Fatalf("got %q, want %q", got, body)
		}
	}
	// The reply: alice's session exists already (built from the prekey message).
	e, err := user.Encrypt(ctx, alice, puppet, []uint32{pi.DeviceID}, fetcherOf(t, gw, puppet), []byte("réponse"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Keys[0].PreKey {
		t.Error("reply on an established session is a prekey message")
	}
	got, err := gw.Decrypt(ctx, puppet, alice, e)
	if err != nil || string(got) != "réponse" {
		t.Fatalf("reply: %q, %v", got, err)
	}
	// Acknowledged: the gateway's next message is a plain Signal message.
	e, err = gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetcherOf(t, user, alice), []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Keys[0].PreKey {
		t.Error("prekey message after the session was acknowledged")
	}
	if got, err := user.Decrypt(ctx, alice, puppet, e); err != nil || string(got) != "after" {
		t.Fatalf("%q %v", got, err)
	}
}

// The state is durable: a new Store on the same directory (a restarted
// gateway) continues the session; the puppet keeps its device id.
func TestStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gw := newTestStore(t, dir)
	user := newTestStore(t, t.TempDir())
	const puppet, alice = "p@mail.example.org", "alice@example.org"
	ai, _ := user.Device(ctx, alice)
	pi, _ := gw.Device(ctx, puppet)
	for i := 0; i < 3; i++ {
		gw = newTestStore(t, dir) // restart before each message
		e, err := gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetcherOf(t, user, alice), []byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		if e.SID != pi.DeviceID {
			t.Fatalf("device id changed: %d, was %d", e.SID, pi.DeviceID)
		}
		if _, err := user.Decrypt(ctx, alice, puppet, e); err != nil {
			t.Fatalf("message %d after restart: %v", i, err)
		}
	}
}

// failFS fails every Create once armed.
type failFS struct {
	fsutil.OS
	fail bool
}

func (f *failFS) Create(name string) (fsutil.File, error) {
	if f.fail {
		return nil, errors.New("disk full")
	}
	return f.OS.Create(name)
}

// A state that could not be made durable is not used: Encrypt fails (no
// 250), and the next message is encrypted from the last durable state, so
// the recipient still decrypts it (no message key used twice, no gap).
func TestEncryptFailsWhenStateNotDurable(t *testing.T) {
	ctx := context.Background()
	fsys := &failFS{}
	gw, err := NewStore(StoreConfig{Dir: t.TempDir(), FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	user := newTestStore(t, t.TempDir())
	const puppet, alice = "p@mail.example.org", "alice@example.org"
	ai, _ := user.Device(ctx, alice)
	fetch := fetcherOf(t, user, alice)
	e1, err := gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetch, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	fsys.fail = true
	if _, err := gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetch, []byte("lost")); err == nil {
		t.Fatal("Encrypt succeeded without a durable state")
	}
	fsys.fail = false
	e3, err := gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetch, []byte("three"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Encrypted{e1, e3} {
		if _, err := user.Decrypt(ctx, alice, puppet, e); err != nil {
			t.Fatal(err)
		}
	}
	if e1.Keys[0].Data == nil || bytes.Equal(e1.Keys[0].Data, e3.Keys[0].Data) {
		t.Fatal("same key message twice")
	}
}

// Two recipient devices both read the message; a device whose bundle is
// missing is skipped, and none at all is ErrNoDevices.
func TestSeveralDevices(t *testing.T) {
	ctx := context.Background()
	gw := newTestStore(t, t.TempDir())
	phone, desk := newTestStore(t, t.TempDir()), newTestStore(t, t.TempDir())
	const puppet, alice = "p@mail.example.org", "alice@example.org"
	pi, _ := phone.Device(ctx, alice)
	di, _ := desk.Device(ctx, alice)
	fetch := func(ctx context.Context, id uint32) (*Bundle, error) {
		switch id {
		case pi.DeviceID:
			return pi.Bundle, nil
		case di.DeviceID:
			return di.Bundle, nil
		}
		return nil, ErrBundleNotFound
	}
	e, err := gw.Encrypt(ctx, puppet, alice, []uint32{pi.DeviceID, di.DeviceID, 77}, fetch, []byte("both"))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Keys) != 2 {
		t.Fatalf("%d keys", len(e.Keys))
	}
	for _, s := range []*Store{phone, desk} {
		if got, err := s.Decrypt(ctx, alice, puppet, e); err != nil || string(got) != "both" {
			t.Fatalf("%q %v", got, err)
		}
	}
	if _, err := gw.Encrypt(ctx, puppet, alice, []uint32{77}, fetch, []byte("x")); !errors.Is(err, ErrNoDevices) {
		t.Fatalf("err = %v, want ErrNoDevices", err)
	}
}

func TestStateFileHoldsNoPlaintextAndIsPrivate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gw := newTestStore(t, dir)
	user := newTestStore(t, t.TempDir())
	ai, _ := user.Device(ctx, "a@x.org")
	if _, err := gw.Encrypt(ctx, "p@m.org", "a@x.org", []uint32{ai.DeviceID}, fetcherOf(t, user, "a@x.org"), []byte("MARKER-7781")); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, []byte("MARKER-7781")) {
			t.Fatal("plaintext in device state")
		}
		fi, _ := e.Info()
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v", e.Name(), fi.Mode())
		}
	}
}

// A session the gateway lost (its state restored from before the session
// existed) cannot decrypt the user's next message; a key transport
// message rebuilds it, and the user's following message decrypts.
func TestKeyTransportRepairsLostSession(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gw := newTestStore(t, dir)
	user := newTestStore(t, t.TempDir())
	const puppet, alice = "p@mail.example.org", "alice@example.org"
	ai, _ := user.Device(ctx, alice)
	pi, _ := gw.Device(ctx, puppet)
	backup, err := os.ReadFile(filepath.Join(dir, fileName(puppet)))
	if err != nil {
		t.Fatal(err)
	}
	e, err := gw.Encrypt(ctx, puppet, alice, []uint32{ai.DeviceID}, fetcherOf(t, user, alice), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.Decrypt(ctx, alice, puppet, e); err != nil {
		t.Fatal(err)
	}
	// The gateway loses the session.
	if err := os.WriteFile(filepath.Join(dir, fileName(puppet)), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	gw = newTestStore(t, dir)
	reply, err := user.Encrypt(ctx, alice, puppet, []uint32{pi.DeviceID}, fetcherOf(t, gw, puppet), []byte("lost"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Decrypt(ctx, puppet, alice, reply); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("decrypt on a lost session: %v, want ErrDecrypt", err)
	}
	kt, err := gw.KeyTransport(ctx, puppet, alice, []uint32{reply.SID}, fetcherOf(t, user, alice))
	if err != nil {
		t.Fatal(err)
	}
	if kt.Payload != nil || !kt.Keys[0].PreKey {
		t.Fatalf("key transport: %+v", kt)
	}
	if body, err := user.Decrypt(ctx, alice, puppet, kt); err != nil || body != nil {
		t.Fatalf("user opens the key transport: %q %v", body, err)
	}
	next, err := user.Encrypt(ctx, alice, puppet, []uint32{pi.DeviceID}, fetcherOf(t, gw, puppet), []byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := gw.Decrypt(ctx, puppet, alice, next); err != nil || string(got) != "again" {
		t.Fatalf("after the repair: %q %v", got, err)
	}
}
