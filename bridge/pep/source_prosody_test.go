package pep

import (
	"context"
	"errors"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

var users = map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

// TestSourceProsody publishes keys from real clients and looks them up from
// the component, recording what Prosody 0.12 answers for each case.
func TestSourceProsody(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	comp := startComponent(t, srv, nil)
	src := NewSource(SourceConfig{Client: comp, Timeout: 5 * time.Second})

	alice := newUserKey(t, srv.JID("alice"), time.Now().Add(-time.Hour).Truncate(time.Second))
	if err := PublishKey(ctx, client(ctx, t, srv, "alice", users["alice"]), alice, "open"); err != nil {
		t.Fatalf("alice publish: %v", err)
	}
	carol := newUserKey(t, srv.JID("carol"), time.Now().Truncate(time.Second))
	if err := PublishKey(ctx, client(ctx, t, srv, "carol", users["carol"]), carol, "presence"); err != nil {
		t.Fatalf("carol publish: %v", err)
	}

	e, err := src.Lookup(ctx, srv.JID("alice"))
	if err != nil {
		t.Fatalf("Lookup(alice): %v", err)
	}
	if got, want := fingerprint(e), fingerprint(alice); got != want {
		t.Fatalf("alice fingerprint %s, want %s", got, want)
	}
	if e.PrivateKey != nil {
		t.Fatal("alice's published key carries a private key")
	}

	// Prosody 0.12 hides whether a PEP node exists from those who may not
	// read it: all three answer forbidden (type auth).
	tests := []struct {
		name, addr    string
		want          error
		wantCondition string
	}{
		{"nothing published", srv.JID("bob"), ErrNotAccessible, "forbidden"},
		{"access model presence", srv.JID("carol"), ErrNotAccessible, "forbidden"},
		{"no such account", srv.JID("nobody"), ErrNotAccessible, "forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := src.Lookup(ctx, tc.addr)
			t.Logf("Lookup(%s): %v", tc.addr, err)
			var xe *xmpp.Error
			if !errors.Is(err, tc.want) || !errors.Is(err, keys.ErrNoKey) || keys.IsTemporary(err) {
				t.Fatalf("err %v, want permanent %v wrapping keys.ErrNoKey", err, tc.want)
			}
			if !errors.As(err, &xe) || xe.Condition != tc.wantCondition {
				t.Fatalf("err %v, want condition %s", err, tc.wantCondition)
			}
		})
	}
}

// TestSourceNotConnected: a lookup while the component is not connected
// fails temporarily within the lookup timeout.
func TestSourceNotConnected(t *testing.T) {
	comp := xmpp.New(xmpp.Config{Addr: "127.0.0.1:1", Domain: "mail.example.org", Secret: "x"})
	src := NewSource(SourceConfig{Client: comp, Timeout: 200 * time.Millisecond})
	began := time.Now()
	_, err := src.Lookup(context.Background(), "alice@example.org")
	if !keys.IsTemporary(err) || errors.Is(err, keys.ErrNoKey) {
		t.Fatalf("err %v, want temporary", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("Lookup took %v, want about the 200ms timeout", d)
	}
}

// TestSourceUnreachable: a JID on a component that is not connected gets
// remote-server-timeout from Prosody 0.12, a temporary failure.
func TestSourceUnreachable(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users,
		ExtraConfig: "\nComponent \"offline.example.org\"\n  component_secret = \"unused\"\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := NewSource(SourceConfig{Client: startComponent(t, srv, nil), Timeout: 5 * time.Second,
		JIDOf: func(string) (jid.JID, error) { return jid.Parse("x@offline.example.org") }})
	_, err := src.Lookup(ctx, "x@example.net")
	t.Logf("Lookup: %v", err)
	var xe *xmpp.Error
	if !keys.IsTemporary(err) || errors.Is(err, keys.ErrNoKey) || !errors.As(err, &xe) ||
		xe.Condition != "remote-server-timeout" {
		t.Fatalf("err %v, want temporary remote-server-timeout", err)
	}
}
