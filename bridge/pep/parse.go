package pep

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"time"

	"passerelle/bridge/keys"
)

// XEP-0373 §4 and XEP-0060 names.
const (
	NSOX         = "urn:xmpp:openpgp:0"
	NSPubsub     = "http://jabber.org/protocol/pubsub"
	NodeMetadata = "urn:xmpp:openpgp:0:public-keys"
)

// maxMetadata bounds the keys read from one metadata item.
const maxMetadata = 32

// KeyNode names the node holding the key with fingerprint fpr.
func KeyNode(fpr string) string { return NodeMetadata + ":" + fpr }

// Metadata is one <pubkey-metadata/> entry of a public-keys-list.
type Metadata struct {
	Fingerprint string    // upper-case hex: 40 digits (v4) or 64 (v6)
	Date        time.Time // zero when absent or unreadable
}

// itemsAnswer is the <pubsub/> child of an XEP-0060 §6.5 items result.
type itemsAnswer struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/pubsub pubsub"`
	Items   struct {
		Node string     `xml:"node,attr"`
		Item []itemElem `xml:"item"`
	} `xml:"items"`
}

type itemElem struct {
	ID     string      `xml:"id,attr"`
	List   *keysList   `xml:"urn:xmpp:openpgp:0 public-keys-list"`
	Pubkey *pubkeyElem `xml:"urn:xmpp:openpgp:0 pubkey"`
}

type keysList struct {
	Meta []struct {
		Fingerprint string `xml:"v4-fingerprint,attr"`
		Date        string `xml:"date,attr"`
	} `xml:"urn:xmpp:openpgp:0 pubkey-metadata"`
}

type pubkeyElem struct {
	Date string `xml:"date,attr,omitempty"`
	Data string `xml:"urn:xmpp:openpgp:0 data"`
}

func decodeItems(r xml.TokenReader) (itemsAnswer, error) {
	var a itemsAnswer
	if err := xml.NewTokenDecoder(r).Decode(&a); err != nil {
		return a, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return a, nil
}

// parseMetadata reads a metadata node's items answer and returns the
// announced keys, newest first. No item at all is ErrNotPublished.
func parseMetadata(r xml.TokenReader) ([]Metadata, error) {
	a, err := decodeItems(r)
	if err != nil {
		return nil, err
	}
	if len(a.Items.Item) == 0 {
		return nil, ErrNotPublished
	}
	var out []Metadata
	for _, it := range a.Items.Item {
		if it.List == nil {
			continue
		}
		for _, m := range it.List.Meta {
			if len(out) < maxMetadata && isFingerprint(m.Fingerprint) {
				out = append(out, Metadata{Fingerprint: strings.ToUpper(m.Fingerprint), Date: parseDate(m.Date)})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no valid pubkey-metadata", ErrNotPublished)
	}
	slices.SortStableFunc(out, func(a, b Metadata) int { return b.Date.Compare(a.Date) })
	return out, nil
}

// parsePubkey reads a key node's items answer and returns the binary key.
func parsePubkey(r xml.TokenReader) ([]byte, error) {
	a, err := decodeItems(r)
	if err != nil {
		return nil, err
	}
	for _, it := range a.Items.Item {
		if it.Pubkey != nil {
			return decodeKeyData(it.Pubkey.Data)
		}
	}
	if len(a.Items.Item) == 0 {
		return nil, ErrNotPublished
	}
	return nil, fmt.Errorf("%w: no pubkey element", ErrMalformed)
}

func decodeKeyData(s string) ([]byte, error) {
	if len(s) > base64.StdEncoding.EncodedLen(keys.MaxKeyBytes)+4096 {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, keys.ErrTooLarge)
	}
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	data, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: key data: %w", ErrMalformed, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty key data", ErrMalformed)
	}
	return data, nil
}

// isFingerprint accepts v4 (40 hex digits) and, since some clients put v6
// fingerprints in the v4-fingerprint attribute, v6 (64 digits).
func isFingerprint(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// parseDate reads an XEP-0082 DateTime; fractions of seconds are allowed.
func parseDate(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t
}
