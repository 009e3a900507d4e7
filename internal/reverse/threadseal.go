package reverse

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// threadKeys protect the thread store file (A3, L2): its index keys are
// HMACs under a key derived from the install secret, and the Message-IDs
// and References a reply needs (In-Reply-To must carry the exact value, so
// a hash cannot replace them) are sealed with AES-256-GCM under another.
// A seized spool without keys.dir names no correspondent, domain or
// Message-ID.
type threadKeys struct {
	index []byte
	aead  cipher.AEAD
}

func newThreadKeys(key []byte) (*threadKeys, error) {
	if len(key) == 0 { // a store that lives only as long as the process
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	block, err := aes.NewCipher(derive(key, "seal"))
	if err != nil {
		return nil, fmt.Errorf("thread store key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("thread store key: %w", err)
	}
	return &threadKeys{index: derive(key, "index"), aead: aead}, nil
}

func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("passerelle-threads/" + purpose))
	return m.Sum(nil)
}

func (k *threadKeys) mac(parts ...string) string {
	m := hmac.New(sha256.New, k.index)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// threadKey is the index key of an XMPP thread id ("" for none).
func (k *threadKeys) threadKey(thread string) string {
	if thread == "" {
		return ""
	}
	return k.mac("thread", thread)
}

// pairKey is the index key of a (puppet, user) pair.
func (k *threadKeys) pairKey(puppet, user string) string {
	return k.mac("pair", puppet, user)
}

type sealedEntry struct {
	MessageID  string   `json:"id"`
	References []string `json:"refs,omitempty"`
}

var errUnsealed = errors.New("thread store: entry does not open")

// seal encrypts e's Message-ID and References; aad binds them to the
// record's index keys, so a line cannot be moved to another thread.
func (k *threadKeys) seal(e Entry, aad string) (string, error) {
	plain, err := json.Marshal(sealedEntry{e.MessageID, e.References})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawStdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, []byte(aad))), nil
}

func (k *threadKeys) open(s, aad string) (Entry, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(b) < k.aead.NonceSize() {
		return Entry{}, errUnsealed
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return Entry{}, errUnsealed
	}
	var se sealedEntry
	if err := json.Unmarshal(plain, &se); err != nil || se.MessageID == "" {
		return Entry{}, errUnsealed
	}
	return Entry{MessageID: se.MessageID, References: se.References}, nil
}
