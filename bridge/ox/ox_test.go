package ox

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func TestSealOpenRoundTrip(t *testing.T) {
	f := newFixture(t)
	ct := f.seal(t, func(c *SealConfig) { c.EncryptToSelf = true })
	if ct[0]&0x80 == 0 || bytes.HasPrefix(ct, []byte("-----")) {
		t.Fatal("ciphertext is not raw OpenPGP")
	}
	sc, err := Open(ct, f.openCfg(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(sc.Payload) != payload {
		t.Errorf("payload =\n%s\nwant\n%s", sc.Payload, payload)
	}
	if len(sc.To) != 1 || sc.To[0] != aliceJID || !sc.Time.Equal(testNow) || sc.Signer == nil {
		t.Errorf("signcrypt = %+v", sc)
	}
	// The sender's copy opens with the puppet's key.
	cfg := f.openCfg(t)
	cfg.Keyring = openpgp.EntityList{f.puppet}
	if _, err := Open(ct, cfg); err != nil {
		t.Errorf("sender copy: %v", err)
	}
}

// TestSealPacketFormat checks SEIPD v1 with MDC to v4 keys.
func TestSealPacketFormat(t *testing.T) {
	f := newFixture(t)
	pr := packet.NewReader(bytes.NewReader(f.seal(t, nil)))
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatalf("no encrypted data packet: %v", err)
		}
		if ek, ok := p.(*packet.EncryptedKey); ok && (ek.Version != 3 || ek.Algo != packet.PubKeyAlgoECDH) {
			t.Errorf("PKESK v%d algo %d, want v3 algo 18", ek.Version, ek.Algo)
		}
		if se, ok := p.(*packet.SymmetricallyEncrypted); ok {
			if se.Version != 1 || !se.IntegrityProtected {
				t.Errorf("SEIPD v%d protected=%v, want v1 with MDC", se.Version, se.IntegrityProtected)
			}
			return
		}
	}
}

func TestSealPlaintextShape(t *testing.T) {
	cfg := SealConfig{To: "a'b@example.org", Payload: []byte(payload), Time: testNow}
	cfg.Signer, cfg.Recipients = &openpgp.Entity{PrivateKey: &packet.PrivateKey{}}, []*openpgp.Entity{{}}
	plain, err := signcryptXML(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(plain)
	if !strings.HasPrefix(s, "<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='a&#39;b@example.org'/><time stamp='2025-06-01T12:00:00Z'/><rpad>") ||
		!strings.HasSuffix(s, "</rpad><payload>"+payload+"</payload></signcrypt>") {
		t.Errorf("plaintext %s", s)
	}
	sc, err := parseSigncrypt(plain)
	if err != nil || sc.To[0] != "a'b@example.org" {
		t.Errorf("parse back: %+v %v", sc, err)
	}
}

func TestRpadLength(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p, err := rpad(randReader{})
		if err != nil || len(p) > 200 {
			t.Fatalf("rpad %d %v", len(p), err)
		}
		seen[len(p)] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct pad lengths", len(seen))
	}
}

func TestSealRejects(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		mut  func(*SealConfig)
		want error
	}{
		{"unbalanced payload", func(c *SealConfig) { c.Payload = []byte("<body>") }, ErrInvalidPayload},
		{"payload escapes", func(c *SealConfig) { c.Payload = []byte("</payload><to jid='x'/><payload>") }, ErrInvalidPayload},
		{"doctype", func(c *SealConfig) { c.Payload = []byte("<!DOCTYPE x><x/>") }, ErrInvalidPayload},
		{"too large", func(c *SealConfig) { c.MaxSize = 10 }, ErrTooLarge},
		{"full JID", func(c *SealConfig) { c.To = "alice@example.org/res" }, ErrInvalidConfig},
		{"no recipients", func(c *SealConfig) { c.Recipients = nil }, ErrInvalidConfig},
		{"public signer", func(c *SealConfig) { c.Signer = public(t, f.puppet) }, ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := SealConfig{To: aliceJID, Payload: []byte(payload), Signer: f.puppet,
				Recipients: []*openpgp.Entity{f.alice}, Time: testNow}
			tc.mut(&cfg)
			if _, err := Seal(cfg); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSealPayloadTokens(t *testing.T) {
	f := newFixture(t)
	body := xml.StartElement{Name: xml.Name{Local: "body"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: "jabber:client"}}}
	toks := &tokens{toks: []xml.Token{body, xml.CharData("a<b"), body.End()}}
	ct := f.seal(t, func(c *SealConfig) { c.Payload, c.PayloadTokens = nil, toks })
	sc, err := Open(ct, f.openCfg(t))
	if err != nil || string(sc.Payload) != `<body xmlns="jabber:client">a&lt;b</body>` {
		t.Fatalf("payload %q, %v", sc.Payload, err)
	}
}

func TestOpenRejects(t *testing.T) {
	f := newFixture(t)
	good := f.seal(t, nil)
	stamp := func(d time.Duration) []byte {
		return f.seal(t, func(c *SealConfig) { c.Time = testNow.Add(d) })
	}
	plain := func(s string) []byte { return encryptRaw(t, []byte(s), f.puppet, f.alice, packet.CompressionNone) }
	tests := []struct {
		name string
		ct   []byte
		mut  func(*OpenConfig)
		want []error // any of
	}{
		{name: "flip last byte", ct: flip(good, len(good)-1), want: []error{ErrCorrupt}},
		{name: "flip middle byte", ct: flip(good, len(good)-40), want: []error{ErrCorrupt}},
		{name: "truncated", ct: good[:len(good)-5], want: []error{ErrCorrupt}},
		{name: "garbage", ct: []byte("hello"), want: []error{ErrCorrupt}},
		{name: "wrong decryption key", ct: good, mut: func(c *OpenConfig) { c.Keyring = openpgp.EntityList{f.bob} }, want: []error{ErrNoDecryptionKey}},
		{name: "wrong <to>", ct: good, mut: func(c *OpenConfig) { c.Recipient = "bob@example.org" }, want: []error{ErrWrongRecipient}},
		{name: "other sender expected", ct: good, mut: func(c *OpenConfig) { c.Senders = openpgp.EntityList{public(t, f.bob)} },
			want: []error{ErrBadSignature, ErrWrongSigner}},
		{name: "signed by our own key", ct: encryptRaw(t, []byte("<x/>"), f.alice, f.alice, 0), want: []error{ErrWrongSigner}},
		{name: "unsigned", ct: encryptRaw(t, []byte("<x/>"), nil, f.alice, 0), want: []error{ErrUnsigned}},
		{name: "not encrypted", ct: signOnly(t, f.puppet), want: []error{ErrNotEncrypted}},
		{name: "no MDC", ct: unprotected(t, []byte("<x/>"), f.alice), want: []error{ErrNotProtected}},
		{name: "future", ct: stamp(time.Hour), want: []error{ErrBadTime, ErrBadSignature}},
		{name: "too old", ct: stamp(-30 * 24 * time.Hour), want: []error{ErrBadTime}},
		{name: "missing <to>", ct: plain("<signcrypt xmlns='urn:xmpp:openpgp:0'><time stamp='2025-06-01T12:00:00Z'/><payload/></signcrypt>"), want: []error{ErrMalformed}},
		{name: "two payloads", ct: plain("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/><time stamp='2025-06-01T12:00:00Z'/><payload/><payload/></signcrypt>"), want: []error{ErrMalformed}},
		{name: "wrong namespace", ct: plain("<signcrypt><to jid='alice@example.org'/><time stamp='2025-06-01T12:00:00Z'/><payload/></signcrypt>"), want: []error{ErrMalformed}},
		{name: "bad stamp", ct: plain("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/><time stamp='yesterday'/><payload/></signcrypt>"), want: []error{ErrMalformed}},
		{name: "trailing element", ct: plain("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/><time stamp='2025-06-01T12:00:00Z'/><payload/></signcrypt><x/>"), want: []error{ErrMalformed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.openCfg(t)
			if tc.mut != nil {
				tc.mut(&cfg)
			}
			_, err := Open(tc.ct, cfg)
			for _, w := range tc.want {
				if errors.Is(err, w) {
					return
				}
			}
			t.Errorf("err = %v, want one of %v", err, tc.want)
		})
	}
}

func TestOpenAcceptsClockSkew(t *testing.T) {
	f := newFixture(t)
	ct := f.seal(t, func(c *SealConfig) { c.Time = testNow.Add(5 * time.Minute) })
	if _, err := Open(ct, f.openCfg(t)); err != nil {
		t.Errorf("5 minutes ahead: %v", err)
	}
}

func TestOpenAcceptsFullJIDRecipient(t *testing.T) {
	f := newFixture(t)
	cfg := f.openCfg(t)
	cfg.Recipient = "Alice@Example.org/gajim"
	if _, err := Open(f.seal(t, nil), cfg); err != nil {
		t.Error(err)
	}
}

// TestOpenDecompressionBomb: 16 MiB of zeros compress to a few KiB;
// Open must stop at MaxSize.
func TestOpenDecompressionBomb(t *testing.T) {
	f := newFixture(t)
	zlibAlice := genKey(t, "xmpp:"+aliceJID, func(c *packet.Config) { c.DefaultCompressionAlgo = packet.CompressionZLIB })
	bomb := encryptRaw(t, make([]byte, 16<<20), f.puppet, zlibAlice, packet.CompressionZLIB)
	if len(bomb) > 256<<10 {
		t.Fatalf("bomb is %d bytes: not compressed", len(bomb))
	}
	cfg := f.openCfg(t)
	cfg.Keyring = openpgp.EntityList{zlibAlice}
	cfg.MaxSize = 1 << 20
	start := time.Now()
	if _, err := Open(bomb, cfg); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	t.Logf("bomb of %d bytes refused in %v", len(bomb), time.Since(start))
}

func TestElement(t *testing.T) {
	ct := []byte{0xc1, 0x00, 0xff}
	s := ElementString(ct)
	if s != "<openpgp xmlns='urn:xmpp:openpgp:0'>wQD/</openpgp>" {
		t.Errorf("ElementString = %s", s)
	}
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	r := Element(ct)
	for tok, err := r.Token(); err == nil; tok, err = r.Token() {
		enc.EncodeToken(tok)
	}
	enc.Flush()
	if buf.String() != `<openpgp xmlns="urn:xmpp:openpgp:0">wQD/</openpgp>` {
		t.Errorf("Element tokens = %s", buf.String())
	}
	got, err := DecodeElement([]byte(" wQ\nD/ "), 0)
	if err != nil || !bytes.Equal(got, ct) {
		t.Errorf("DecodeElement = %x %v", got, err)
	}
	if _, err := DecodeElement([]byte("!!"), 0); !errors.Is(err, ErrInvalidOpenPGPElt) {
		t.Errorf("bad base64: %v", err)
	}
	if _, err := DecodeElement(make([]byte, 20), 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func signOnly(t *testing.T, signer *openpgp.Entity) []byte {
	var out bytes.Buffer
	w, err := openpgp.SignWithParams(&out, []*openpgp.Entity{signer}, &openpgp.SignParams{Config: &packet.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("<x/>"))
	w.Close()
	return out.Bytes()
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return cryptoRand(p) }
