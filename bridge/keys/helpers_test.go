package keys

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newKey makes a key with the gateway's algorithms and the given user ID
// parts; mutate may adjust the config first.
func newKey(t testing.TB, name, email string, mutate func(*packet.Config)) *openpgp.Entity {
	t.Helper()
	cfg := GenConfig(testNow.Add(-time.Hour), nil)
	if mutate != nil {
		mutate(cfg)
	}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		t.Fatalf("NewEntity: %v", err)
	}
	return e
}

func armored(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	b, err := ArmorPublic(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
