package policy

import (
	"errors"
	"strings"
	"testing"
)

func yes() *bool { b := true; return &b }

func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := New(Config{
		LocalDomains: []string{"example.org", "Legacy.Example"},
		Global:       Rule{MaxMessageBytes: 10 << 20},
		Domains: map[string]Rule{
			"legacy.example": {Route: RouteSMTP, Encryption: EncryptOpportunistic, ReversePlaintext: yes()},
			"peer.example":   {Route: RoutePeer},
		},
		Addresses: map[string]Rule{
			"Bob@legacy.example": {NoKey: NoKeyNotice, MaxMessageBytes: 1 << 20},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	p := testPolicy(t)
	for i, tc := range []struct {
		addr       string
		wantRoute  Route
		wantEnc    Encryption
		wantNoKey  NoKeyAction
		wantPlain  bool
		wantMax    int64
		wantSource map[string]string
	}{
		{"alice@example.org", RouteXMPP, EncryptRequired, NoKeyReject, false, 10 << 20,
			map[string]string{"route": "default", "max_message_bytes": "global"}},
		{"carol@LEGACY.example", RouteSMTP, EncryptOpportunistic, NoKeyReject, true, 10 << 20,
			map[string]string{"route": "domain legacy.example", "no_key": "default"}},
		{"bob@legacy.example", RouteSMTP, EncryptOpportunistic, NoKeyNotice, true, 1 << 20,
			map[string]string{"no_key": "address bob@legacy.example", "max_message_bytes": "address bob@legacy.example"}},
		{"x@peer.example", RoutePeer, EncryptRequired, NoKeyReject, false, 10 << 20,
			map[string]string{"route": "domain peer.example"}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			d := p.Decide(tc.addr)
			if d.Route != tc.wantRoute || d.Encryption != tc.wantEnc || d.NoKey != tc.wantNoKey ||
				d.ReversePlaintext != tc.wantPlain || d.MaxMessageBytes != tc.wantMax {
				t.Errorf("%d: Decide(%q) = %+v", i, tc.addr, d)
			}
			for field, want := range tc.wantSource {
				if got := d.Source[field]; got != want {
					t.Errorf("%d: source of %s = %q, want %q", i, field, got, want)
				}
			}
			if !strings.Contains(d.Explain(), string(tc.wantRoute)) {
				t.Errorf("Explain lacks route:\n%s", d.Explain())
			}
		})
	}
}

func TestIsLocal(t *testing.T) {
	p := testPolicy(t)
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"a@example.org", true},
		{"a@EXAMPLE.ORG", true},
		{"a@example.org.", true},
		{"a@legacy.example", true},
		{"a@other.example", false},
		{"a@sub.example.org", false},
		{"noat", false},
	} {
		if got := p.IsLocal(tc.addr); got != tc.want {
			t.Errorf("IsLocal(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestNewReportsEveryError(t *testing.T) {
	_, err := New(Config{
		Global:    Rule{Route: "carrier-pigeon", Encryption: "maybe"},
		Domains:   map[string]Rule{"d.example": {NoKey: "shrug", MaxMessageBytes: -1}},
		Addresses: map[string]Rule{"nodomain": {}},
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"no local domains", "carrier-pigeon", "maybe", "shrug", "negative", "nodomain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestDirectory(t *testing.T) {
	p, err := New(Config{LocalDomains: []string{"example.org"},
		Directory: map[string]string{"Alice@example.org": "alice@chat.example.org", "bob@example.org": "carol@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ email, wantJID string }{
		{"alice@example.org", "alice@chat.example.org"},
		{"dave@example.org", "dave@example.org"},
	} {
		if got := p.JID(tc.email); got != tc.wantJID {
			t.Errorf("JID(%s) = %s, want %s", tc.email, got, tc.wantJID)
		}
	}
	for _, tc := range []struct {
		jid, wantEmail string
		wantOK         bool
	}{
		{"alice@chat.example.org", "alice@example.org", true},
		{"dave@example.org", "dave@example.org", true},
		{"carol@example.org", "bob@example.org", true}, // carol's JID reads bob's mail
		{"bob@example.org", "", false},                 // bob's address belongs to carol's JID
		{"mallory@evil.example", "", false},
	} {
		got, ok := p.Email(tc.jid)
		if got != tc.wantEmail || ok != tc.wantOK {
			t.Errorf("Email(%s) = %q, %v; want %q, %v", tc.jid, got, ok, tc.wantEmail, tc.wantOK)
		}
	}
	_, err = New(Config{LocalDomains: []string{"example.org"},
		Directory: map[string]string{"x@other.example": "x@example.org", "a@example.org": "a/b", "c@example.org": "j@x.org", "d@example.org": "j@x.org"}})
	for _, want := range []string{"not an address in a local domain", "not a bare JID", "JID of both"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestSendAs(t *testing.T) {
	p, err := New(Config{LocalDomains: []string{"example.org"}, Senders: map[string][]string{
		"carol": {"Carol@Example.org", "@team.example"}, "relay": {"*", "relay@example.org"}, "locked@example.org": {},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		user, addr string
		want       SendAs
	}{
		{"alice@example.org", "alice@example.org", SendAsOwn}, // default: the login name
		{"alice@example.org", "ALICE@example.org", SendAsOwn},
		{"alice@example.org", "bob@example.org", SendAsDenied},
		{"alice", "alice@example.org", SendAsDenied}, // not an address: nothing by default
		{"carol", "carol@example.org", SendAsOwn},
		{"carol", "anyone@TEAM.example", SendAsOwn},
		{"carol", "x@sub.team.example", SendAsDenied},
		{"carol", "carol@example.org.evil", SendAsDenied},
		{"relay", "relay@example.org", SendAsOwn},
		{"relay", "ceo@bank.example", SendAsAny},
		{"locked@example.org", "locked@example.org", SendAsDenied}, // from = []
	} {
		if got := p.SendAs(tc.user, tc.addr); got != tc.want {
			t.Errorf("case %d: SendAs(%q, %q) = %d, want %d", i, tc.user, tc.addr, got, tc.want)
		}
	}
	for _, bad := range []string{"", "@", "alice@", "a b@example.org", "@a@b"} {
		if _, err := New(Config{LocalDomains: []string{"example.org"}, Senders: map[string][]string{"u": {bad}}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("from entry %q accepted: %v", bad, err)
		}
	}
}

func TestExists(t *testing.T) {
	open, err := New(Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if !open.Exists("anyone@example.org") || open.UsersKnown() {
		t.Error("without a user list every local address may exist")
	}
	p, err := New(Config{LocalDomains: []string{"example.org"}, Users: []string{"Alice@example.org"},
		Directory: map[string]string{"carol@example.org": "carol@chat.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"alice@EXAMPLE.org": true, "carol@example.org": true, "bob@example.org": false} {
		if got := p.Exists(addr); got != want {
			t.Errorf("Exists(%q) = %v, want %v", addr, got, want)
		}
	}
	if _, err := New(Config{LocalDomains: []string{"example.org"}, Users: []string{"x@other.example"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a user outside the local domains was accepted: %v", err)
	}
	if none, err := New(Config{LocalDomains: []string{"example.org"}, Users: []string{}}); err != nil || none.Exists("a@example.org") {
		t.Errorf("an empty user list must know nobody: %v", err)
	}
}

func TestReverseAccess(t *testing.T) {
	p, err := New(Config{LocalDomains: []string{"example.org"},
		Domains:   map[string]Rule{"example.org": {Reverse: ReverseDeny}},
		Addresses: map[string]Rule{"alice@example.org": {Reverse: ReverseAllow}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide("bob@example.org"); d.Reverse != ReverseDeny || d.Source["reverse"] != "domain example.org" {
		t.Errorf("bob: %s from %s", d.Reverse, d.Source["reverse"])
	}
	d := p.Decide("alice@example.org")
	if d.Reverse != ReverseAllow || !strings.Contains(d.Explain(), "reverse:           allow          (address alice@example.org)") {
		t.Errorf("alice:\n%s", d.Explain())
	}
	if d := p.Decide("x@other.example"); d.Reverse != ReverseAllow || d.Source["reverse"] != "default" {
		t.Errorf("default: %s from %s", d.Reverse, d.Source["reverse"])
	}
	if _, err := New(Config{LocalDomains: []string{"example.org"}, Global: Rule{Reverse: "maybe"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("reverse = maybe accepted: %v", err)
	}
}

func TestXMPPEncryption(t *testing.T) {
	for mode, want := range map[XMPPEncryption]string{
		XMPPPreferOX: "ox,omemo", XMPPPreferOMEMO: "omemo,ox", XMPPOX: "ox", XMPPOMEMO: "omemo", "": "ox,omemo",
	} {
		if got := strings.Join(Decision{XMPPEncryption: mode}.Schemes(), ","); got != want {
			t.Errorf("%q: %s, want %s", mode, got, want)
		}
	}
	p, err := New(Config{LocalDomains: []string{"example.org"}, Domains: map[string]Rule{"example.org": {XMPPEncryption: XMPPPreferOMEMO}}})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide("a@example.org")
	if d.XMPPEncryption != XMPPPreferOMEMO || d.Source["xmpp_encryption"] != "domain example.org" {
		t.Fatalf("%+v", d)
	}
	if !strings.Contains(d.Explain(), "xmpp_encryption:   prefer-omemo") || !strings.Contains(d.Explain(), "tried in order:  omemo, then ox") {
		t.Errorf("explain:\n%s", d.Explain())
	}
	if d := p.Decide("a@other.org"); d.XMPPEncryption != XMPPPreferOX || d.Source["xmpp_encryption"] != "default" {
		t.Fatalf("default: %+v", d)
	}
	if _, err := New(Config{LocalDomains: []string{"example.org"}, Global: Rule{XMPPEncryption: "signal"}}); err == nil {
		t.Fatal("xmpp_encryption signal accepted")
	}
}
