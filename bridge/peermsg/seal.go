package peermsg

import (
	"fmt"
	"io"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/ox"
)

// SealConfig describes one transfer's OpenPGP message.
type SealConfig struct {
	To       string          // the receiving component's JID (the signcrypt's <to/>)
	Envelope *Envelope       // what to send
	Signer   *openpgp.Entity // our domain key, with its secret
	Peer     *openpgp.Entity // the receiving gateway's domain key (verified against its record)
	Time     time.Time       // zero: now
	Rand     io.Reader       // nil: crypto/rand
}

// Seal returns the raw OpenPGP message of a transfer: an XEP-0373
// <signcrypt/> to cfg.To whose payload is the envelope, signed by
// cfg.Signer and encrypted to cfg.Peer only. Signcrypt gives what the
// envelope needs beyond the SMTP fields: the receiving gateway bound in
// <to/> (a transfer cannot be replayed to another gateway), a signed time
// (bounded replay window) and random padding.
func Seal(cfg SealConfig) ([]byte, error) {
	if cfg.Envelope == nil || cfg.Peer == nil {
		return nil, fmt.Errorf("%w: Seal needs an envelope and the peer's key", ErrInvalid)
	}
	env, err := BuildEnvelope(cfg.Envelope)
	if err != nil {
		return nil, err
	}
	ct, err := ox.Seal(ox.SealConfig{To: cfg.To, Payload: env, PayloadEncoded: true, Signer: cfg.Signer,
		Recipients: []*openpgp.Entity{cfg.Peer}, Time: cfg.Time, Rand: cfg.Rand})
	if err != nil {
		return nil, fmt.Errorf("peermsg: seal for %s: %w", cfg.To, err)
	}
	return ct, nil
}

// OpenConfig describes what Open expects.
type OpenConfig struct {
	Self   string          // our component's JID: the signcrypt must be addressed to it
	Keys   *openpgp.Entity // our domain key, with its secret
	Sender *openpgp.Entity // the sending gateway's domain key (verified against its record)
	Now    time.Time       // zero: now
	// MaxAge bounds the signcrypt's age: a sender retries with the stamp
	// of its first attempt, for up to its queue lifetime (five days), so
	// the default is ox's seven days.
	MaxAge time.Duration
	Limits Limits
}

// Open decrypts and verifies a transfer's OpenPGP message and parses its
// envelope. The signature must be by cfg.Sender; errors wrap bridge/ox's
// sentinels (ox.ErrWrongSigner, ox.ErrWrongRecipient, ox.ErrBadTime, …)
// or this package's.
func Open(ct []byte, cfg OpenConfig) (*Envelope, error) {
	if cfg.Keys == nil || cfg.Sender == nil {
		return nil, fmt.Errorf("%w: Open needs our key and the sender's", ErrInvalid)
	}
	lim := cfg.Limits.withDefaults()
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{cfg.Keys},
		Senders: openpgp.EntityList{cfg.Sender}, Recipient: cfg.Self, Now: cfg.Now,
		MaxSize: int64(lim.MaxBytes), MaxAge: cfg.MaxAge})
	if err != nil {
		return nil, fmt.Errorf("peermsg: open: %w", err)
	}
	return ParseEnvelope(sc.Payload, lim)
}
