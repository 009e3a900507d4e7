package keys

import (
	"errors"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func TestUsable(t *testing.T) {
	revoked := newKey(t, "", "r@example.org", nil)
	if err := revoked.Revoke(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	noEnc := newKey(t, "", "n@example.org", nil)
	noEnc.Subkeys = nil
	tests := []struct {
		name string
		key  *openpgp.Entity
		want error
	}{
		{"ed25519 v4", newKey(t, "", "a@example.org", nil), nil},
		{"v6 ed25519/x25519", newKey(t, "", "v6@example.org", func(c *packet.Config) {
			c.V6Keys, c.Algorithm, c.Curve = true, packet.PubKeyAlgoEd25519, ""
		}), nil},
		{"rsa 2048", newKey(t, "", "rsa@example.org", func(c *packet.Config) {
			c.Algorithm, c.RSABits = packet.PubKeyAlgoRSA, 2048
		}), nil},
		{"rsa 1024", newKey(t, "", "weak@example.org", func(c *packet.Config) {
			c.Algorithm, c.RSABits = packet.PubKeyAlgoRSA, 1024
		}), ErrWeakKey},
		{"expired", newKey(t, "", "e@example.org", func(c *packet.Config) {
			c.KeyLifetimeSecs = 60
		}), ErrExpired},
		{"revoked", revoked, ErrRevoked},
		{"no encryption subkey", noEnc, ErrNoEncryptionKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Usable(tc.key, testNow)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Usable = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUsableV6Algorithms(t *testing.T) {
	e := newKey(t, "", "v6@example.org", func(c *packet.Config) {
		c.V6Keys, c.Algorithm, c.Curve = true, packet.PubKeyAlgoEd25519, ""
	})
	if e.PrimaryKey.Version != 6 || e.PrimaryKey.PubKeyAlgo != 27 || e.Subkeys[0].PublicKey.PubKeyAlgo != 25 {
		t.Fatalf("v%d algo %d/%d", e.PrimaryKey.Version, e.PrimaryKey.PubKeyAlgo, e.Subkeys[0].PublicKey.PubKeyAlgo)
	}
	// Round trip through armor: reading v6 keys is supported.
	el, err := ParseKeys(armored(t, e))
	if err != nil || Usable(el[0], testNow.Add(time.Minute)) != nil {
		t.Fatalf("v6 key after parse: %v / %v", err, Usable(el[0], testNow))
	}
}
