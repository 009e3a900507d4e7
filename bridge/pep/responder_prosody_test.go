package pep

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap/zaptest"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

var _ PuppetKeys = (*keys.Store)(nil)

const puppetEmail = "bob@gmail.com"

// startResponder runs a component answering for puppets from a real key
// store and returns the store. Alice and carol are local users (their
// queries may make new puppet keys); bob stands for a federated account.
func startResponder(t *testing.T, srv *prosodytest.Server, opts ...func(*ResponderConfig)) *keys.Store {
	t.Helper()
	store, _ := startResponderDir(t, srv, opts...)
	return store
}

// startResponderDir is startResponder, also returning the key directory.
func startResponderDir(t *testing.T, srv *prosodytest.Server, opts ...func(*ResponderConfig)) (*keys.Store, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := keys.OpenStore(dir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.InitDomainKey(srv.Component, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := ResponderConfig{Domain: srv.Component, Keys: store, Log: zaptest.NewLogger(t),
		IsLocal: func(bare jid.JID) bool {
			return bare.String() == srv.JID("alice") || bare.String() == srv.JID("carol")
		}}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := NewResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := xmpp.NewMux()
	r.Register(mux)
	startComponent(t, srv, mux)
	return store, dir
}

func TestResponderServesPuppetKey(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := startResponder(t, srv)
	q := client(ctx, t, srv, "alice", users["alice"])
	puppet, err := jidesc.PuppetJID(puppetEmail, srv.Component)
	if err != nil {
		t.Fatal(err)
	}

	raw, err := rawItems(ctx, q, puppet, NodeMetadata)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	metas, err := parseMetadata(xml.NewDecoder(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("parse metadata %s: %v", raw, err)
	}
	want, err := store.PuppetKey(ctx, puppet.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 || metas[0].Fingerprint != fingerprint(want) ||
		!metas[0].Date.Equal(want.PrimaryKey.CreationTime.Truncate(time.Second)) {
		t.Fatalf("metadata %+v, want one entry %s created %v", metas, fingerprint(want), want.PrimaryKey.CreationTime)
	}

	src := NewSource(SourceConfig{Client: q, JIDOf: func(addr string) (jid.JID, error) {
		return jidesc.PuppetJID(addr, srv.Component)
	}})
	got, err := src.Lookup(ctx, puppetEmail)
	if err != nil {
		t.Fatalf("Lookup puppet key as a client: %v", err)
	}
	checkPublicOnly(t, got)
	if fingerprint(got) != fingerprint(want) {
		t.Fatalf("fingerprint %s, want %s", fingerprint(got), fingerprint(want))
	}
	if _, ok := got.Identities[`xmpp:bob\40gmail.com@`+srv.Component]; !ok {
		t.Fatalf("user IDs %v, want xmpp:%s", slices.Collect(maps.Keys(got.Identities)), puppet)
	}
	if err := keys.Usable(got, time.Now()); err != nil {
		t.Fatalf("served key not usable: %v", err)
	}
	verifySignedBy(t, want, got)
}

// checkPublicOnly fails if e carries any secret key material.
func checkPublicOnly(t *testing.T, e *openpgp.Entity) {
	t.Helper()
	if e.PrivateKey != nil {
		t.Fatal("served key has a private primary key")
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			t.Fatal("served key has a private subkey")
		}
	}
}

// verifySignedBy signs with the gateway's puppet key and verifies the
// signature with the key a client fetched.
func verifySignedBy(t *testing.T, signer, fetched *openpgp.Entity) {
	t.Helper()
	const msg = "signed by the puppet"
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, []*openpgp.Entity{signer}, strings.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	_, by, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{fetched}, strings.NewReader(msg), &sig, nil)
	if err != nil || fingerprint(by) != fingerprint(fetched) {
		t.Fatalf("verify with fetched key: %v", err)
	}
}

func TestResponderErrors(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startResponder(t, srv)
	q := client(ctx, t, srv, "alice", users["alice"])
	puppet := jid.MustParse(`bob\40gmail.com@` + srv.Component)
	tests := []struct {
		name, to, node string
		wantCondition  string
	}{
		{"unknown key node", puppet.String(), KeyNode(strings.Repeat("AB", 20)), "item-not-found"},
		{"other node", puppet.String(), "urn:xmpp:avatar:metadata", "item-not-found"},
		{"component domain", srv.Component, NodeMetadata, "item-not-found"},
		{"not a puppet localpart", "bob@" + srv.Component, NodeMetadata, "item-not-found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rawItems(ctx, q, jid.MustParse(tc.to), tc.node)
			var xe *xmpp.Error
			if !errors.As(err, &xe) || xe.Condition != tc.wantCondition {
				t.Fatalf("items %s on %s: err %v, want %s", tc.node, tc.to, err, tc.wantCondition)
			}
		})
	}
	t.Run("publish to a puppet", func(t *testing.T) {
		err := publish(ctx, clientQuerierTo{q, puppet}, NodeMetadata, "current", "open", nil)
		var xe *xmpp.Error
		if !errors.As(err, &xe) || xe.Condition != "service-unavailable" {
			t.Fatalf("publish: err %v, want service-unavailable", err)
		}
	})
}

// clientQuerierTo addresses every IQ to to.
type clientQuerierTo struct {
	ClientQuerier
	to jid.JID
}

func (q clientQuerierTo) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	iq.To = q.to
	return q.ClientQuerier.IQ(ctx, iq, payload)
}
