package keys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"passerelle/internal/addrhash"
	"passerelle/internal/fsutil"
)

// InstallSecretFile is the per-install secret in keys.dir.
const InstallSecretFile = "install.secret"

const installSecretLen = 32

// InstallSecret is 32 random bytes made once per install and kept in
// keys.dir (mode 0600). It keys every hash and encryption that must not be
// reversible by someone who has the logs or the spool but not keys.dir:
// address hashes in logs, the thread store's keys and values. Each use
// derives its own key with [InstallSecret.Key].
type InstallSecret struct{ b [installSecretLen]byte }

// LoadInstallSecret reads dir/install.secret, creating it (random, 0600,
// durably, never replacing one another process made) if it does not exist.
func LoadInstallSecret(dir string) (*InstallSecret, error) {
	path := filepath.Join(dir, InstallSecretFile)
	s, err := readInstallSecret(path)
	if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	if err := fsutil.MkdirAll(fsutil.OS{}, dir); err != nil {
		return nil, fmt.Errorf("install secret: %w", err)
	}
	var b [installSecretLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("install secret: %w", err)
	}
	err = fsutil.CreateNew(fsutil.OS{}, dir, InstallSecretFile, b[:])
	if err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("install secret: %w", err)
	}
	return readInstallSecret(path)
}

func readInstallSecret(path string) (*InstallSecret, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("install secret %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("install secret %s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	s := &InstallSecret{}
	n, err := io.ReadFull(f, s.b[:])
	if err != nil || n != installSecretLen {
		return nil, fmt.Errorf("install secret %s: want exactly %d bytes: %v", path, installSecretLen, err)
	}
	if extra, _ := f.Read(make([]byte, 1)); extra != 0 {
		return nil, fmt.Errorf("install secret %s: want exactly %d bytes", path, installSecretLen)
	}
	return s, nil
}

// NewInstallSecret returns a random secret that is not stored: for tests,
// and for packages' defaults when none is configured (hashes are then
// stable only within one process).
func NewInstallSecret() *InstallSecret {
	s := &InstallSecret{}
	_, _ = rand.Read(s.b[:]) // never fails (crypto/rand since Go 1.24)
	return s
}

// Key derives the 32-byte key for one purpose (HMAC-SHA256 of the purpose
// under the secret), so no two uses share a key.
func (s *InstallSecret) Key(purpose string) []byte {
	m := hmac.New(sha256.New, s.b[:])
	m.Write([]byte("passerelle/v1/" + purpose))
	return m.Sum(nil)
}

// AddressHasher returns how addresses appear in logs and errors: the
// first 12 hex digits of HMAC-SHA256 of the address under the key for
// purpose ([addrhash.New]). Without the secret the hashes cannot be
// reversed with a dictionary of likely addresses; with it, an operator can
// still match the lines about one address.
func (s *InstallSecret) AddressHasher(purpose string) func(string) string {
	return addrhash.New(s.Key(purpose))
}

// RandomAddressHasher is the default address hasher of packages given
// none: keyed with a fresh random secret, never unsalted.
func RandomAddressHasher() func(string) string { return addrhash.Random() }
