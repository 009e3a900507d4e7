package ox

import (
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// FuzzOpen feeds Open arbitrary ciphertexts: it must never panic, and
// anything it accepts must be a verified envelope for alice.
func FuzzOpen(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.seal(f, nil))
	f.Add(encryptRaw(f, []byte("<x/>"), nil, fx.alice, 0))
	f.Add(unprotected(f, []byte("<x/>"), fx.alice))
	zlibAlice := genKey(f, "xmpp:"+aliceJID, func(c *packet.Config) { c.DefaultCompressionAlgo = packet.CompressionZLIB })
	f.Add(encryptRaw(f, []byte(strings.Repeat("a", 5000)), fx.puppet, zlibAlice, packet.CompressionZLIB))
	f.Add([]byte{0xc1, 0x00})
	cfg := fx.openCfg(f)
	cfg.Keyring = openpgp.EntityList{fx.alice, zlibAlice}
	cfg.MaxSize = 1 << 20
	f.Fuzz(func(t *testing.T, ct []byte) {
		sc, err := Open(ct, cfg)
		if err == nil && (sc.Signer == nil || !addressedTo(sc.To, aliceJID)) {
			t.Fatalf("accepted unverified envelope %+v", sc)
		}
	})
}

func FuzzParseSigncrypt(f *testing.F) {
	f.Add([]byte("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='a@b'/><time stamp='2025-06-01T12:00:00Z'/><payload><x/></payload></signcrypt>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := parseSigncrypt(b)
		if err == nil && (len(sc.To) == 0 || sc.Time.IsZero()) {
			t.Fatalf("accepted %+v", sc)
		}
	})
}
