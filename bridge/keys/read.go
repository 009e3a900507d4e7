package keys

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Limits on key material read from outside.
const (
	MaxKeyBytes     = 1 << 20 // one key block, armored or binary
	MaxKeysPerBlock = 16      // keys in one block
)

// Fingerprint is a primary key fingerprint in upper-case hex.
type Fingerprint string

// FingerprintOf returns e's primary key fingerprint.
func FingerprintOf(e *openpgp.Entity) Fingerprint {
	return Fingerprint(fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
}

// ReadKeys reads at most MaxKeyBytes of armored or binary key material and
// returns at most MaxKeysPerBlock keys.
func ReadKeys(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxKeyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read key data: %w", err)
	}
	return ParseKeys(data)
}

// ParseKeys parses armored or binary key material under the same limits as
// ReadKeys.
func ParseKeys(data []byte) (openpgp.EntityList, error) {
	if len(data) > MaxKeyBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxKeyBytes)
	}
	el, err := parseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("%w: no key in data", ErrInvalidKey)
	}
	if len(el) > MaxKeysPerBlock {
		return nil, fmt.Errorf("%w: %d keys in one block (max %d)", ErrTooManyKeys, len(el), MaxKeysPerBlock)
	}
	return el, nil
}

func parseKeyring(data []byte) (el openpgp.EntityList, err error) {
	defer func() { // go-crypto parsers are hardened but this is network input
		if r := recover(); r != nil {
			el, err = nil, fmt.Errorf("key parser panic: %v", r)
		}
	}()
	if !isArmored(data) {
		return openpgp.ReadKeyRing(bufio.NewReader(bytes.NewReader(data)))
	}
	// Several armored blocks may follow each other (gpg --export -a a b
	// writes one; cat a.asc b.asc makes two).
	for _, block := range armorBlocks(data) {
		part, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
		if err != nil {
			return nil, err
		}
		el = append(el, part...)
		if len(el) > MaxKeysPerBlock {
			break
		}
	}
	return el, nil
}

// armorBlocks splits data at each armor header line.
func armorBlocks(data []byte) [][]byte {
	const begin = "-----BEGIN PGP"
	var out [][]byte
	for {
		i := bytes.Index(data, []byte(begin))
		if i < 0 {
			return out
		}
		data = data[i:]
		j := bytes.Index(data[len(begin):], []byte(begin))
		if j < 0 {
			return append(out, data)
		}
		out = append(out, data[:len(begin)+j])
		data = data[len(begin)+j:]
	}
}

func isArmored(data []byte) bool {
	return bytes.Contains(data[:min(len(data), 512)], []byte("-----BEGIN PGP"))
}
