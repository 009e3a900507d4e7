package pep

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"
)

// prosodyMetadata is Prosody 0.12's answer, as recorded by TestSourceProsody
// (note the xmlns repeated on <item/>).
const prosodyMetadata = `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:openpgp:0:public-keys'><item id='current' xmlns='http://jabber.org/protocol/pubsub'><public-keys-list xmlns='urn:xmpp:openpgp:0'><pubkey-metadata v4-fingerprint='BB4ED8A0E714352072325B779C7516276E92493D' date='2026-11-27T08:29:28Z'/></public-keys-list></item></items></pubsub>`

func decoder(s string) xml.TokenReader { return xml.NewDecoder(strings.NewReader(s)) }

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Metadata
		wantErr error
	}{
		{"prosody", prosodyMetadata, []Metadata{{"BB4ED8A0E714352072325B779C7516276E92493D",
			time.Date(2026, 11, 27, 8, 29, 28, 0, time.UTC)}}, nil},
		{"newest first, bad date last", metadataXML(
			"1111111111111111111111111111111111111111", "yesterday",
			"2222222222222222222222222222222222222222", "2020-01-01T00:00:00Z",
			"3333333333333333333333333333333333333333", "2021-01-01T00:00:00+02:00"),
			[]Metadata{
				{"3333333333333333333333333333333333333333", time.Date(2020, 12, 31, 22, 0, 0, 0, time.UTC)},
				{"2222222222222222222222222222222222222222", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
				{"1111111111111111111111111111111111111111", time.Time{}},
			}, nil},
		{"v6 fingerprint", metadataXML(strings.Repeat("a", 64), "2020-01-01T00:00:00Z"),
			[]Metadata{{strings.Repeat("A", 64), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}}, nil},
		{"bad fingerprint length skipped", metadataXML(strings.Repeat("A", 50), "2020-01-01T00:00:00Z"), nil, ErrNotPublished},
		{"no items", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='x'/></pubsub>`, nil, ErrNotPublished},
		{"wrong namespace", `<pubsub xmlns='urn:other'/>`, nil, ErrMalformed},
		{"truncated", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items>`, nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMetadata(decoder(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Fingerprint != tc.want[i].Fingerprint || !got[i].Date.Equal(tc.want[i].Date) {
					t.Fatalf("entry %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParsePubkey(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"plain", pubkeyXML(strings.Repeat("A", 40), []byte("key")), "key", nil},
		{"wrapped base64", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items><item><pubkey xmlns='urn:xmpp:openpgp:0'><data>a2V5
			a2V5</data></pubkey></item></items></pubsub>`, "keykey", nil},
		{"bad base64", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items><item><pubkey xmlns='urn:xmpp:openpgp:0'><data>!!</data></pubkey></item></items></pubsub>`, "", ErrMalformed},
		{"empty data", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items><item><pubkey xmlns='urn:xmpp:openpgp:0'><data/></pubkey></item></items></pubsub>`, "", ErrMalformed},
		{"no pubkey", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items><item/></items></pubsub>`, "", ErrMalformed},
		{"no items", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items/></pubsub>`, "", ErrNotPublished},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePubkey(decoder(tc.in))
			if !errors.Is(err, tc.wantErr) || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
