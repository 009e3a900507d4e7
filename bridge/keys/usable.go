package keys

import (
	"errors"
	"fmt"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// MinRSABits is the smallest RSA modulus accepted for a recipient key.
const MinRSABits = 2048

// Usable reports why e cannot be used to encrypt to at time now, or nil.
// The error wraps ErrRevoked, ErrExpired, ErrWeakKey, ErrNoEncryptionKey or
// ErrInvalidKey. Version 4 and version 6 keys are accepted.
func Usable(e *openpgp.Entity, now time.Time) error {
	if e == nil || e.PrimaryKey == nil {
		return fmt.Errorf("%w: no primary key", ErrInvalidKey)
	}
	fp := FingerprintOf(e)
	if e.Revoked(now) {
		return fmt.Errorf("key %s: %w", fp, ErrRevoked)
	}
	if _, err := e.VerifyPrimaryKey(now, nil); err != nil {
		return fmt.Errorf("key %s: %w", fp, primaryError(err))
	}
	if err := checkRSA(e.PrimaryKey); err != nil {
		return fmt.Errorf("key %s: %w", fp, err)
	}
	k, err := e.EncryptionKeyWithError(now, nil)
	if err != nil {
		return fmt.Errorf("key %s: %w: %w", fp, subkeyError(e), err)
	}
	if err := checkRSA(k.PublicKey); err != nil {
		return fmt.Errorf("key %s subkey %X: %w", fp, k.PublicKey.Fingerprint, err)
	}
	return nil
}

func primaryError(err error) error {
	switch {
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return ErrRevoked
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return ErrExpired
	}
	return fmt.Errorf("%w: %w", ErrInvalidKey, err)
}

// subkeyError tells a weak RSA subkey (which go-crypto skips) from the
// absence of any encryption subkey.
func subkeyError(e *openpgp.Entity) error {
	for _, sk := range e.Subkeys {
		if err := checkRSA(sk.PublicKey); errors.Is(err, ErrWeakKey) {
			return err
		}
	}
	return ErrNoEncryptionKey
}

func checkRSA(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
	default:
		return nil
	}
	bits, err := pk.BitLength()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if bits < MinRSABits {
		return fmt.Errorf("%w: RSA %d bits < %d", ErrWeakKey, bits, MinRSABits)
	}
	return nil
}
