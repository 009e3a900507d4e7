package ox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Time window defaults for <time stamp/>.
const (
	DefaultMaxFuture = 10 * time.Minute
	DefaultMaxAge    = 7 * 24 * time.Hour

	decompressSlack = 1 << 20 // packet headers and read-ahead inside a compressed packet
)

// OpenConfig describes what Open expects.
type OpenConfig struct {
	Keyring   openpgp.EntityList // our secret keys (puppet keys, domain key)
	Senders   openpgp.EntityList // keys the expected sender may sign with
	Recipient string             // bare JID the stanza was addressed to
	Now       time.Time          // zero: time.Now
	MaxSize   int64              // plaintext limit after decompression; 0: DefaultMaxSize
	MaxFuture time.Duration      // accepted clock skew; 0: DefaultMaxFuture
	MaxAge    time.Duration      // oldest accepted stamp; 0: DefaultMaxAge; <0: no limit
}

// Signcrypt is an opened and verified envelope.
type Signcrypt struct {
	To      []string        // every <to jid/>
	Time    time.Time       // <time stamp/>
	Payload []byte          // raw inner XML of <payload>
	Signer  *openpgp.Entity // the entry of Senders that signed
}

// Open decrypts and verifies ciphertext (the raw OpenPGP message from an
// <openpgp/> element) and returns its signcrypt content.
func Open(ciphertext []byte, cfg OpenConfig) (sc *Signcrypt, err error) {
	defer func() { // network input: a parser panic must not take the gateway down
		if r := recover(); r != nil {
			sc, err = nil, fmt.Errorf("%w: openpgp parser panic: %v", ErrCorrupt, r)
		}
	}()
	if err := fillOpen(&cfg); err != nil {
		return nil, err
	}
	body, signer, err := decryptVerify(ciphertext, &cfg)
	if err != nil {
		return nil, err
	}
	sc, err = parseSigncrypt(body)
	if err != nil {
		return nil, err
	}
	sc.Signer = signer
	if err := checkEnvelope(sc, &cfg); err != nil {
		return nil, err
	}
	return sc, nil
}

func fillOpen(cfg *OpenConfig) error {
	switch {
	case len(cfg.Keyring) == 0:
		return fmt.Errorf("%w: no decryption keys", ErrInvalidConfig)
	case len(cfg.Senders) == 0:
		return fmt.Errorf("%w: no sender keys", ErrInvalidConfig)
	case cfg.Recipient == "":
		return fmt.Errorf("%w: no expected recipient", ErrInvalidConfig)
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxFuture <= 0 {
		cfg.MaxFuture = DefaultMaxFuture
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	return nil
}

// decryptVerify decrypts, reads the whole body (the MDC and the signature
// are only checked at EOF) within MaxSize, and checks the signer.
func decryptVerify(ct []byte, cfg *OpenConfig) ([]byte, *openpgp.Entity, error) {
	// Signatures made by a clock up to MaxFuture ahead must verify.
	pcfg := pgpConfig(cfg.Now.Add(cfg.MaxFuture), nil)
	// go-crypto's own limit is a backstop: its error is masked as a generic
	// "parsing error", so the LimitReader below must trip first.
	backstop := cfg.MaxSize + decompressSlack
	pcfg.MaxDecompressedMessageSize = &backstop
	kr := append(append(openpgp.EntityList(nil), cfg.Keyring...), cfg.Senders...)
	md, err := openpgp.ReadMessage(bytes.NewReader(ct), kr, nil, pcfg)
	if err != nil {
		return nil, nil, classify(err)
	}
	if !md.IsEncrypted {
		return nil, nil, ErrNotEncrypted
	}
	body, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, cfg.MaxSize+1))
	if err != nil {
		return nil, nil, classify(err)
	}
	if int64(len(body)) > cfg.MaxSize {
		return nil, nil, fmt.Errorf("%w: plaintext over %d bytes", ErrTooLarge, cfg.MaxSize)
	}
	signer, err := checkSigner(md, cfg.Senders)
	if err != nil {
		return nil, nil, err
	}
	return body, signer, nil
}

func checkSigner(md *openpgp.MessageDetails, senders openpgp.EntityList) (*openpgp.Entity, error) {
	if !md.IsSigned {
		return nil, ErrUnsigned
	}
	if md.SignatureError != nil || md.SignedBy == nil || !md.IsVerified {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, md.SignatureError)
	}
	fp := md.SignedBy.Entity.PrimaryKey.Fingerprint
	for _, s := range senders {
		if bytes.Equal(s.PrimaryKey.Fingerprint, fp) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %X", ErrWrongSigner, fp)
}

// classify maps go-crypto errors to this package's sentinels.
func classify(err error) error {
	var unsupported pgperrors.UnsupportedError
	switch {
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return fmt.Errorf("%w: %w", ErrNoDecryptionKey, err)
	case errors.As(err, &unsupported) && strings.Contains(string(unsupported), "integrity"):
		return fmt.Errorf("%w: %w", ErrNotProtected, err)
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}
