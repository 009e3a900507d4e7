// Package addrhash is how addresses appear in logs and errors at the
// default log level: a short keyed hash (HMAC-SHA256, truncated to 48
// bits), so lines about one address can be matched without the log
// holding the address, and a dictionary of likely addresses cannot reverse
// it without the key (the per-install secret in keys.dir,
// bridge/keys.InstallSecret).
package addrhash

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// New returns the hasher keyed with key: the first 12 hex digits of
// HMAC-SHA256(key, lowercased address).
func New(key []byte) func(string) string {
	key = append([]byte(nil), key...)
	return func(addr string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(strings.ToLower(addr)))
		return hex.EncodeToString(m.Sum(nil)[:6])
	}
}

// Random returns a hasher with a fresh random key: the default of packages
// given none. Its hashes match only within one process; never unsalted.
func Random() func(string) string {
	var key [32]byte
	_, _ = rand.Read(key[:]) // never fails (crypto/rand since Go 1.24)
	return New(key[:])
}
