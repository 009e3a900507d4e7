package pep

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
)

// fakeQuerier answers items requests from canned per-node answers.
type fakeQuerier struct {
	answers map[string]string // node -> <pubsub/> XML
	errs    map[string]error  // node -> error
	asked   []string
}

func (f *fakeQuerier) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	var req pubsubRequest
	if err := xml.NewTokenDecoder(payload).Decode(&req); err != nil || req.Items == nil {
		return nil, fmt.Errorf("fake: bad request: %v", err)
	}
	node := req.Items.Node
	f.asked = append(f.asked, iq.To.String()+" "+node)
	if err := f.errs[node]; err != nil {
		return nil, err
	}
	ans, ok := f.answers[node]
	if !ok {
		return nil, xmpp.Classify("item-not-found", "cancel", "")
	}
	return xml.NewDecoder(strings.NewReader(ans)), nil
}

func metadataXML(entries ...string) string {
	var b strings.Builder
	b.WriteString(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:openpgp:0:public-keys'><item id='current'><public-keys-list xmlns='urn:xmpp:openpgp:0'>`)
	for i := 0; i+1 < len(entries); i += 2 {
		fmt.Fprintf(&b, `<pubkey-metadata v4-fingerprint='%s' date='%s'/>`, entries[i], entries[i+1])
	}
	b.WriteString(`</public-keys-list></item></items></pubsub>`)
	return b.String()
}

func pubkeyXML(fpr string, data []byte) string {
	return fmt.Sprintf(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='%s'><item id='x'><pubkey xmlns='urn:xmpp:openpgp:0'><data>%s</data></pubkey></item></items></pubsub>`,
		KeyNode(fpr), base64.StdEncoding.EncodeToString(data))
}

const alice = "alice@example.org"

func TestLookupPicksNewestKey(t *testing.T) {
	old := newUserKey(t, alice, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	cur := newUserKey(t, alice, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	f := &fakeQuerier{answers: map[string]string{
		NodeMetadata: metadataXML(fingerprint(old), "2020-01-01T00:00:00Z",
			strings.ToLower(fingerprint(cur)), "2024-01-01T00:00:00.5Z"),
		KeyNode(fingerprint(old)): pubkeyXML(fingerprint(old), mustPublic(old)),
		KeyNode(fingerprint(cur)): pubkeyXML(fingerprint(cur), mustPublic(cur)),
	}}
	e, err := NewSource(SourceConfig{Client: f}).Lookup(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if fingerprint(e) != fingerprint(cur) {
		t.Fatalf("got key %s, want the newest %s", fingerprint(e), fingerprint(cur))
	}
	if want := alice + " " + KeyNode(fingerprint(cur)); f.asked[1] != want {
		t.Fatalf("asked %q, want %q", f.asked, want)
	}
}

func TestLookupErrors(t *testing.T) {
	key := newUserKey(t, alice, time.Now())
	other := newUserKey(t, alice, time.Now())
	stranger := newUserKey(t, "mallory@example.org", time.Now())
	fpr := fingerprint(key)
	meta := metadataXML(fpr, "2024-01-01T00:00:00Z")
	withKey := func(data []byte) map[string]string {
		return map[string]string{NodeMetadata: meta, KeyNode(fpr): pubkeyXML(fpr, data)}
	}
	tests := []struct {
		name          string
		answers       map[string]string
		errs          map[string]error
		want          []error
		wantTemporary bool
	}{
		{"no metadata node", nil, nil, []error{ErrNotPublished, keys.ErrNoKey}, false},
		{"empty metadata node", map[string]string{NodeMetadata: `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:openpgp:0:public-keys'/></pubsub>`},
			nil, []error{ErrNotPublished, keys.ErrNoKey}, false},
		{"no valid fingerprint", map[string]string{NodeMetadata: metadataXML("XYZ", "2024-01-01T00:00:00Z")},
			nil, []error{ErrNotPublished}, false},
		{"forbidden", nil, map[string]error{NodeMetadata: xmpp.Classify("forbidden", "auth", "")},
			[]error{ErrNotAccessible, keys.ErrNoKey}, false},
		{"presence access model", nil, map[string]error{NodeMetadata: xmpp.Classify("not-authorized", "auth", "")},
			[]error{ErrNotAccessible, keys.ErrNoKey}, false},
		{"no such account", nil, map[string]error{NodeMetadata: xmpp.Classify("service-unavailable", "cancel", "")},
			[]error{ErrNotPublished, keys.ErrNoKey}, false},
		{"bad request", nil, map[string]error{NodeMetadata: xmpp.Classify("bad-request", "modify", "")},
			[]error{keys.ErrNoKey}, false},
		{"remote server timeout", nil, map[string]error{NodeMetadata: xmpp.Classify("remote-server-timeout", "wait", "")},
			nil, true},
		{"remote server not found", nil, map[string]error{NodeMetadata: xmpp.Classify("remote-server-not-found", "cancel", "")},
			nil, true},
		{"link lost", nil, map[string]error{NodeMetadata: xmpp.ErrLinkLost}, nil, true},
		{"key node missing", map[string]string{NodeMetadata: meta}, nil, []error{ErrNotPublished}, false},
		{"key node timeout", map[string]string{NodeMetadata: meta},
			map[string]error{KeyNode(fpr): context.DeadlineExceeded}, nil, true},
		{"fingerprint mismatch", withKey(mustPublic(other)), nil, []error{ErrFingerprintMismatch, keys.ErrInvalidKey}, false},
		{"garbage key", withKey([]byte("not a key")), nil, []error{keys.ErrInvalidKey}, false},
		{"wrong user ID", map[string]string{NodeMetadata: metadataXML(fingerprint(stranger), "2024-01-01T00:00:00Z"),
			KeyNode(fingerprint(stranger)): pubkeyXML(fingerprint(stranger), mustPublic(stranger))},
			nil, []error{keys.ErrAddressMismatch}, false},
		{"malformed answer", map[string]string{NodeMetadata: `<pubsub xmlns='other'/>`}, nil, []error{ErrMalformed}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeQuerier{answers: tc.answers, errs: tc.errs}
			e, err := NewSource(SourceConfig{Client: f}).Lookup(context.Background(), alice)
			if e != nil || err == nil {
				t.Fatalf("Lookup = %v, %v; want an error", e, err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err %v, want it to wrap %v", err, w)
				}
			}
			if got := keys.IsTemporary(err); got != tc.wantTemporary {
				t.Errorf("err %v: temporary %v, want %v", err, got, tc.wantTemporary)
			}
		})
	}
}

func TestLookupTimeout(t *testing.T) {
	block := querierFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	began := time.Now()
	_, err := NewSource(SourceConfig{Client: block, Timeout: 50 * time.Millisecond}).Lookup(context.Background(), alice)
	if !keys.IsTemporary(err) || time.Since(began) > time.Second {
		t.Fatalf("err %v after %v, want temporary after 50ms", err, time.Since(began))
	}
}

type querierFunc func(ctx context.Context) error

func (f querierFunc) IQ(ctx context.Context, _ stanza.IQ, _ xml.TokenReader) (xml.TokenReader, error) {
	return nil, f(ctx)
}

func TestLookupBadAddress(t *testing.T) {
	_, err := NewSource(SourceConfig{Client: &fakeQuerier{}}).Lookup(context.Background(), "example.org")
	if !errors.Is(err, keys.ErrNoKey) {
		t.Fatalf("err %v, want keys.ErrNoKey", err)
	}
}

var _ keys.Source = (*Source)(nil)
