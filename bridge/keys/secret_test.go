package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestInstallSecret: made once (0600), the same on every load, and the
// hashes it keys differ from an unsalted hash and between installs (L2).
func TestInstallSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s1, err := LoadInstallSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, InstallSecretFile))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	s2, err := LoadInstallSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := s1.AddressHasher("log-address"), s2.AddressHasher("log-address")
	if h1("Bob@Example.net") != h2("bob@example.net") {
		t.Error("hash differs across loads or case")
	}
	plain := sha256.Sum256([]byte("bob@example.net"))
	if h1("bob@example.net") == hex.EncodeToString(plain[:6]) {
		t.Error("hash is the unsalted SHA-256")
	}
	if NewInstallSecret().AddressHasher("log-address")("bob@example.net") == h1("bob@example.net") {
		t.Error("two installs hash alike")
	}
	if string(s1.Key("a")) == string(s1.Key("b")) {
		t.Error("purposes share a key")
	}
	if err := os.Chmod(filepath.Join(dir, InstallSecretFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInstallSecret(dir); err == nil {
		t.Error("a world-readable secret was accepted")
	}
}
