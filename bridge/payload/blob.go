package payload

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// Sizes of the XEP-0454 AES-256-GCM scheme.
const (
	KeySize = 32 // AES-256
	IVSize  = 12 // GCM nonce
	TagSize = 16 // appended to the ciphertext
)

// SealBlob encrypts plaintext with AES-256-GCM and appends the tag.
// Never reuse a key and IV pair: use a fresh key per blob, as
// SealExternal does.
func SealBlob(key [KeySize]byte, iv [IVSize]byte, plaintext []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, iv[:], plaintext, nil), nil
}

// OpenBlob decrypts and authenticates a blob made by SealBlob.
func OpenBlob(key [KeySize]byte, iv [IVSize]byte, blob []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, iv[:], blob, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: blob: %w", ErrIntegrity, err)
	}
	return plain, nil
}

func newGCM(key [KeySize]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("payload: aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// SealExternal encrypts raw under a fresh random key and IV. It returns
// the blob to upload and an External whose URL the caller sets to where
// the blob was uploaded.
func SealExternal(raw []byte) (*External, []byte, error) {
	x := &External{Size: int64(len(raw)), SHA256: sha256.Sum256(raw)}
	rand.Read(x.Key[:])
	rand.Read(x.IV[:])
	blob, err := SealBlob(x.Key, x.IV, raw)
	if err != nil {
		return nil, nil, err
	}
	return x, blob, nil
}

// Open decrypts a downloaded blob and checks it against x's size and
// SHA-256. Check len(blob) == x.Size+TagSize while downloading to stop a
// server sending more.
func (x *External) Open(blob []byte) ([]byte, error) {
	if int64(len(blob)) != x.Size+TagSize {
		return nil, fmt.Errorf("%w: blob of %d bytes, want %d", ErrIntegrity, len(blob), x.Size+TagSize)
	}
	raw, err := OpenBlob(x.Key, x.IV, blob)
	if err != nil {
		return nil, err
	}
	if err := verify(raw, x.Size, x.SHA256); err != nil {
		return nil, err
	}
	return raw, nil
}

// OpenInPlace is Open decrypting into blob's own storage: the mail
// returned shares blob's array and blob must not be used again. A
// downloaded 25 MB mail is then held once, not twice.
func (x *External) OpenInPlace(blob []byte) ([]byte, error) {
	if int64(len(blob)) != x.Size+TagSize {
		return nil, fmt.Errorf("%w: blob of %d bytes, want %d", ErrIntegrity, len(blob), x.Size+TagSize)
	}
	aead, err := newGCM(x.Key)
	if err != nil {
		return nil, err
	}
	raw, err := aead.Open(blob[:0], x.IV[:], blob, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: blob: %w", ErrIntegrity, err)
	}
	if err := verify(raw, x.Size, x.SHA256); err != nil {
		return nil, err
	}
	return raw, nil
}
