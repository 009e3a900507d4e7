package pep

import (
	"context"
	"encoding/xml"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/keys"
	"passerelle/bridge/omemo"
	"passerelle/bridge/xmpp"
	"passerelle/internal/omemotest"
	"passerelle/internal/prosodytest"
)

var _ OMEMODevices = (*omemo.Store)(nil)

// TestOMEMOInteropWithPythonOMEMO runs Passerelle's OMEMO against an
// implementation that is not ours (python3-omemo + python3-oldmemo on
// slixmpp) through a real Prosody: the gateway reads the client's device
// list and bundle from its PEP over the component, encrypts from a puppet,
// and the client decrypts; the client answers the puppet (fetching the
// puppet's device list and bundle from the component's answers), and the
// gateway decrypts that.
func TestOMEMOInteropWithPythonOMEMO(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ks, err := keys.OpenStore(t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.InitDomainKey(srv.Component, time.Now()); err != nil {
		t.Fatal(err)
	}
	store, err := omemo.NewStore(omemo.StoreConfig{Dir: t.TempDir(), Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResponder(ResponderConfig{Domain: srv.Component, Keys: ks, OMEMO: store, Log: zaptest.NewLogger(t),
		IsLocal: func(j jid.JID) bool { return j.Domainpart() == srv.Domain }})
	if err != nil {
		t.Fatal(err)
	}
	mux := xmpp.NewMux()
	r.Register(mux)
	inbox := make(chan *omemo.Encrypted, 4)
	mux.HandleMessage(func(ctx context.Context, msg stanza.Message, rd xml.TokenReader) error {
		d := xml.NewTokenDecoder(rd)
		for {
			tok, err := d.Token()
			if err != nil {
				return nil
			}
			if s, ok := tok.(xml.StartElement); ok && s.Name.Space == omemo.NS && s.Name.Local == "encrypted" {
				e, err := omemo.Decode(d, &s)
				if err != nil {
					t.Errorf("reply: %v", err)
					return nil
				}
				inbox <- e
				return nil
			}
		}
	})
	comp := startComponent(t, srv, mux)

	alice := srv.JID("alice")
	py := omemotest.Start(ctx, t, omemotest.Config{JID: alice, Password: users["alice"],
		C2SAddr: srv.C2SAddr, CAFile: srv.CAFile, State: filepath.Join(t.TempDir(), "alice.json")})

	src := NewSource(SourceConfig{Client: comp})
	aj := jid.MustParse(alice)
	ids, err := src.OMEMODeviceList(ctx, aj)
	if err != nil {
		t.Fatalf("device list: %v", err)
	}
	if !slices.Contains(ids, py.DeviceID) {
		t.Fatalf("device list %v lacks the client's device %d", ids, py.DeviceID)
	}
	fetch := func(ctx context.Context, id uint32) (*omemo.Bundle, error) { return src.OMEMOBundle(ctx, aj, id) }
	puppet, err := jidesc.PuppetJID(puppetEmail, srv.Component)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"Objet : Réunion 📅\n\nBonjour Alice, à demain.", "second message"} {
		e, err := store.Encrypt(ctx, puppet.String(), alice, ids, fetch, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := comp.Send(ctx, xmpp.Message{From: puppet, To: aj, Type: stanza.ChatMessage,
			Payload: xmpp.Tokens(e.Tokens()...)}); err != nil {
			t.Fatal(err)
		}
		ev, err := py.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Error != "" || ev.Body != body || ev.From != puppet.String() {
			t.Fatalf("client got %+v, want %q from %s", ev, body, puppet)
		}
	}

	// The reply path: the client encrypts to the puppet's device.
	if err := py.Send(puppet.String(), "Réponse ✓"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-inbox:
		got, err := store.Decrypt(ctx, puppet.String(), alice, e)
		if err != nil || string(got) != "Réponse ✓" {
			t.Fatalf("reply: %q, %v", got, err)
		}
	case <-ctx.Done():
		t.Fatal("no reply from the client")
	}
}
