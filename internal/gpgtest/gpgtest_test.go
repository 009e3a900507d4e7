package gpgtest

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func TestImportAndList(t *testing.T) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, Rand: rand.Reader,
		Time: func() time.Time { return time.Now() }}
	e, err := openpgp.NewEntity("xmpp:alice@example.org", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := New(t)
	g.Import(e, true)
	out, _ := g.Run(nil, "--with-colons", "--list-secret-keys")
	if !strings.Contains(string(out), `xmpp\x3aalice@example.org`) { // colons are escaped in --with-colons
		t.Fatalf("gpg does not list the imported key:\n%s", out)
	}
}
