package ox

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// NS is the XEP-0373 namespace.
const NS = "urn:xmpp:openpgp:0"

// Defaults.
const (
	DefaultMaxSize = 64 << 20 // plaintext bytes Seal writes or Open reads
	maxRpad        = 200
)

// SealConfig describes one envelope.
type SealConfig struct {
	To            string            // recipient bare JID for <to jid=''/>
	Payload       []byte            // inner XML of <payload>; or
	PayloadTokens xml.TokenReader   // the same as tokens (used if Payload is nil)
	Signer        *openpgp.Entity   // sender (puppet) key with its secret
	Recipients    []*openpgp.Entity // recipient public keys
	EncryptToSelf bool              // also encrypt to Signer (sender's readable copy)
	Time          time.Time         // <time stamp/>, signature time; zero: now
	Rand          io.Reader         // nil: crypto/rand
	MaxSize       int               // payload limit; 0: DefaultMaxSize
	// PayloadEncoded says Payload came from an xml.Encoder (e.g.
	// payload.BuildInner) and is well-formed by construction, so Seal skips
	// re-parsing it (a third of Seal's time on large mail).
	PayloadEncoded bool
}

// Seal returns the raw OpenPGP message (not armored) for cfg.
func Seal(cfg SealConfig) ([]byte, error) {
	var buf bytes.Buffer
	if err := SealTo(&buf, cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SealTo writes the raw OpenPGP message for cfg to w.
func SealTo(w io.Writer, cfg SealConfig) error {
	plain, err := signcryptXML(&cfg)
	if err != nil {
		return err
	}
	to := append([]*openpgp.Entity(nil), cfg.Recipients...)
	if cfg.EncryptToSelf {
		to = append(to, cfg.Signer)
	}
	pw, err := openpgp.EncryptWithParams(w, to, nil, &openpgp.EncryptParams{
		Signers: []*openpgp.Entity{cfg.Signer},
		Config:  pgpConfig(cfg.Time, cfg.Rand),
	})
	if err != nil {
		return fmt.Errorf("ox seal to %s: %w", cfg.To, err)
	}
	if _, err := pw.Write(plain); err != nil {
		return fmt.Errorf("ox seal: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("ox seal: %w", err)
	}
	return nil
}

// pgpConfig: AES-256, SHA-256 signatures, no compression (compression
// side channels), v1 SEIPD unless every recipient key advertises v2.
func pgpConfig(now time.Time, rnd io.Reader) *packet.Config {
	return &packet.Config{
		Rand:                   rnd,
		Time:                   func() time.Time { return now },
		DefaultCipher:          packet.CipherAES256,
		DefaultHash:            crypto.SHA256,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
}

// signcryptXML validates cfg, fills defaults and builds the plaintext.
func signcryptXML(cfg *SealConfig) ([]byte, error) {
	if err := fillSeal(cfg); err != nil {
		return nil, err
	}
	pad, err := rpad(cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("ox seal: rpad: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(cfg.Payload) + 512)
	b.WriteString("<signcrypt xmlns='" + NS + "'><to jid='")
	xml.EscapeText(&b, []byte(cfg.To))
	b.WriteString("'/><time stamp='" + cfg.Time.UTC().Format(time.RFC3339) + "'/><rpad>")
	b.WriteString(pad)
	b.WriteString("</rpad><payload>")
	b.Write(cfg.Payload)
	b.WriteString("</payload></signcrypt>")
	return b.Bytes(), nil
}

func fillSeal(cfg *SealConfig) error {
	switch {
	case cfg.To == "" || strings.ContainsAny(cfg.To, "/\x00"):
		return fmt.Errorf("%w: To must be a bare JID, got %q", ErrInvalidConfig, cfg.To)
	case cfg.Signer == nil || cfg.Signer.PrivateKey == nil:
		return fmt.Errorf("%w: Signer needs a secret key", ErrInvalidConfig)
	case len(cfg.Recipients) == 0:
		return fmt.Errorf("%w: no recipient key", ErrInvalidConfig)
	}
	if cfg.Time.IsZero() {
		cfg.Time = time.Now()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Payload == nil && cfg.PayloadTokens != nil {
		p, err := encodeTokens(cfg.PayloadTokens)
		if err != nil {
			return err
		}
		cfg.Payload = p
	}
	if len(cfg.Payload) > cfg.MaxSize {
		return fmt.Errorf("%w: payload %d bytes > %d", ErrTooLarge, len(cfg.Payload), cfg.MaxSize)
	}
	if cfg.PayloadEncoded {
		return nil
	}
	return checkPayload(cfg.Payload)
}

// rpadAlphabet holds characters needing no XML escaping.
const rpadAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

// rpad returns 0..200 random characters (XEP-0373 §3.1: random length
// padding against length analysis).
func rpad(r io.Reader) (string, error) {
	n, err := rand.Int(r, big.NewInt(maxRpad+1))
	if err != nil {
		return "", err
	}
	buf := make([]byte, n.Int64())
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	for i, c := range buf {
		buf[i] = rpadAlphabet[int(c)%len(rpadAlphabet)]
	}
	return string(buf), nil
}
