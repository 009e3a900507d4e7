package keys

import (
	"crypto"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// UserIDPrefix starts every user ID the gateway generates (XEP-0373 §4).
const UserIDPrefix = "xmpp:"

// GenConfig returns the go-crypto configuration for every key the gateway
// generates: a v4 EdDSA Ed25519 primary key (algorithm 22) with an ECDH
// Curve25519 subkey (algorithm 18), AES-256 preferred and no SEIPDv2
// feature flag, so peers (GnuPG 2.2) encrypt to it with SEIPD v1 + MDC.
// An unset Algorithm in go-crypto would give RSA-2048: keep it explicit.
// rand may be nil (crypto/rand).
func GenConfig(now time.Time, rand io.Reader) *packet.Config {
	return &packet.Config{
		Rand:          rand,
		Algorithm:     packet.PubKeyAlgoEdDSA,
		Curve:         packet.Curve25519,
		V6Keys:        false,
		AEADConfig:    nil,
		DefaultHash:   crypto.SHA512,
		DefaultCipher: packet.CipherAES256,
		Time:          func() time.Time { return now },
	}
}

// GenerateDomainKey makes the gateway's domain key with the single user ID
// "xmpp:<domain>": the domain is the component's JID, and OX clients look
// for xmpp: URIs.
func GenerateDomainKey(domain string, now time.Time) (*openpgp.Entity, error) {
	if err := checkJID(domain); err != nil {
		return nil, fmt.Errorf("generate domain key: %w", err)
	}
	e, err := openpgp.NewEntity(UserIDPrefix+domain, "", "", GenConfig(now, nil))
	if err != nil {
		return nil, fmt.Errorf("generate domain key for %s: %w", domain, err)
	}
	return e, nil
}

// GeneratePuppetKey makes a key with user ID "xmpp:<puppetJID>" and
// certifies that user ID with the domain key (a generic certification,
// signature type 0x10).
func GeneratePuppetKey(puppetJID string, domain *openpgp.Entity, now time.Time) (*openpgp.Entity, error) {
	if err := checkJID(puppetJID); err != nil {
		return nil, fmt.Errorf("generate puppet key: %w", err)
	}
	cfg := GenConfig(now, nil)
	uid := UserIDPrefix + puppetJID
	e, err := openpgp.NewEntity(uid, "", "", cfg)
	if err != nil {
		return nil, fmt.Errorf("generate puppet key: %w", err)
	}
	if err := e.SignIdentity(uid, domain, cfg); err != nil {
		return nil, fmt.Errorf("certify puppet key with domain key: %w", err)
	}
	return e, nil
}

// checkJID refuses strings go-crypto cannot put in a user ID and obvious
// non-JIDs. Full JID validation belongs to the XMPP layer.
func checkJID(j string) error {
	if j == "" || len(j) > 3071 || strings.ContainsAny(j, "()<>\x00 \t\r\n/") {
		return fmt.Errorf("%w: %q", ErrInvalidAddress, j)
	}
	return nil
}
