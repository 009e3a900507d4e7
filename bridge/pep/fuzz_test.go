package pep

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// Both parsers read answers from any XMPP entity: they must never panic,
// and what they return must hold their invariants.

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(prosodyMetadata))
	f.Add([]byte(metadataXML("1111111111111111111111111111111111111111", "2020-01-01T00:00:00Z",
		"abcdefabcdefabcdefabcdefabcdefabcdefabcd", "x")))
	f.Add([]byte(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items/></pubsub>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		metas, err := parseMetadata(xml.NewDecoder(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if len(metas) == 0 || len(metas) > maxMetadata {
			t.Fatalf("%d entries without error", len(metas))
		}
		for i, m := range metas {
			if !isFingerprint(m.Fingerprint) {
				t.Fatalf("invalid fingerprint %q returned", m.Fingerprint)
			}
			if i > 0 && m.Date.After(metas[i-1].Date) {
				t.Fatal("not sorted newest first")
			}
		}
	})
}

func FuzzParsePubkey(f *testing.F) {
	e := newUserKey(f, "alice@example.org", time.Unix(1700000000, 0))
	f.Add([]byte(pubkeyXML(fingerprint(e), mustPublic(e))))
	f.Add([]byte(`<pubsub xmlns='http://jabber.org/protocol/pubsub'><items><item><pubkey xmlns='urn:xmpp:openpgp:0'><data>a2V5</data></pubkey></item></items></pubsub>`))
	fpr := fingerprint(e)
	owner := jid.MustParse("alice@example.org")
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parsePubkey(xml.NewDecoder(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if len(key) == 0 {
			t.Fatal("empty key without error")
		}
		if got, err := checkKey(key, fpr, owner); err == nil && fingerprint(got) != fpr {
			t.Fatalf("checkKey returned %s for %s", fingerprint(got), fpr)
		}
	})
}
