package ox

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/keys"
)

var (
	testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	keyTime = testNow.Add(-90 * 24 * time.Hour) // keys predate every test stamp
)

const (
	aliceJID  = "alice@example.org"
	puppetJID = `bob\40gmail.com@mail.example.org`
	payload   = `<subject xmlns='jabber:client'>Hi</subject><body xmlns='jabber:client'>Hello &amp; bye &lt;3</body><mail xmlns='urn:passerelle:mail:0'>RnJvbTogYm9iQGdtYWlsLmNvbQ0K</mail>`
)

type fixture struct {
	domain, puppet, alice, bob *openpgp.Entity
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dom, err := keys.GenerateDomainKey("mail.example.org", keyTime)
	if err != nil {
		t.Fatal(err)
	}
	pup, err := keys.GeneratePuppetKey(puppetJID, dom, keyTime)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{domain: dom, puppet: pup,
		alice: genKey(t, "xmpp:"+aliceJID, nil), bob: genKey(t, "xmpp:bob@example.org", nil)}
}

func genKey(t testing.TB, uid string, mutate func(*packet.Config)) *openpgp.Entity {
	t.Helper()
	cfg := keys.GenConfig(keyTime, nil)
	if mutate != nil {
		mutate(cfg)
	}
	e, err := openpgp.NewEntity(uid, "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// public returns e without its secret keys.
func public(t testing.TB, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	el, err := keys.ParseKeys(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return el[0]
}

func (f *fixture) seal(t testing.TB, mutate func(*SealConfig)) []byte {
	t.Helper()
	cfg := SealConfig{To: aliceJID, Payload: []byte(payload), Signer: f.puppet,
		Recipients: []*openpgp.Entity{public(t, f.alice)}, Time: testNow}
	if mutate != nil {
		mutate(&cfg)
	}
	ct, err := Seal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func (f *fixture) openCfg(t testing.TB) OpenConfig {
	return OpenConfig{Keyring: openpgp.EntityList{f.alice}, Senders: openpgp.EntityList{public(t, f.puppet)},
		Recipient: aliceJID, Now: testNow.Add(time.Minute)}
}

// encryptRaw encrypts plain to `to`, signed by signer when not nil, with
// an optional compression algorithm forced through the recipient's prefs.
func encryptRaw(t testing.TB, plain []byte, signer *openpgp.Entity, to *openpgp.Entity, comp packet.CompressionAlgo) []byte {
	t.Helper()
	var out bytes.Buffer
	cfg := &packet.Config{Time: func() time.Time { return testNow }, DefaultCompressionAlgo: comp,
		CompressionConfig: &packet.CompressionConfig{Level: 9}}
	var signers []*openpgp.Entity
	if signer != nil {
		signers = []*openpgp.Entity{signer}
	}
	w, err := openpgp.EncryptWithParams(&out, []*openpgp.Entity{to}, nil, &openpgp.EncryptParams{Signers: signers, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// unprotected builds a legacy Symmetrically Encrypted Data packet (tag 9,
// no MDC) to `to` holding plain as literal data.
func unprotected(t testing.TB, plain []byte, to *openpgp.Entity) []byte {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	ek, ok := to.EncryptionKey(testNow, nil)
	if !ok {
		t.Fatal("no encryption key")
	}
	var out bytes.Buffer
	if err := packet.SerializeEncryptedKey(&out, ek.PublicKey, packet.CipherAES256, key, nil); err != nil {
		t.Fatal(err)
	}
	var lit bytes.Buffer
	lw, err := packet.SerializeLiteral(nopCloser{&lit}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	lw.Write(plain)
	lw.Close()
	block, _ := aes.NewCipher(key)
	iv := make([]byte, block.BlockSize())
	rand.Read(iv)
	stream, prefix := packet.NewOCFBEncrypter(block, iv, packet.OCFBResync)
	body := make([]byte, lit.Len())
	stream.XORKeyStream(body, lit.Bytes())
	body = append(prefix, body...)
	out.Write([]byte{0xc0 | 9, 0xff, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))})
	out.Write(body)
	return out.Bytes()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func cryptoRand(p []byte) (int, error) { return rand.Read(p) }
