package ox

import (
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func benchSeal(b *testing.B, size int) {
	f := newFixture(b)
	body := "<body xmlns='jabber:client'>" + strings.Repeat("x", size) + "</body>"
	cfg := SealConfig{To: aliceJID, Payload: []byte(body), Signer: f.puppet,
		Recipients: []*openpgp.Entity{public(b, f.alice)}, EncryptToSelf: true, Time: testNow}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal4KiB(b *testing.B)   { benchSeal(b, 4<<10) }
func BenchmarkSeal100KiB(b *testing.B) { benchSeal(b, 100<<10) }

func BenchmarkOpen100KiB(b *testing.B) {
	f := newFixture(b)
	ct := f.seal(b, func(c *SealConfig) {
		c.Payload = []byte("<body xmlns='jabber:client'>" + strings.Repeat("x", 100<<10) + "</body>")
	})
	cfg := f.openCfg(b)
	b.SetBytes(int64(len(ct)))
	for b.Loop() {
		if _, err := Open(ct, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
