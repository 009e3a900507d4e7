package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"go.uber.org/zap"
)

func TestKeyringImportLookup(t *testing.T) {
	dir := t.TempDir()
	kr, err := OpenKeyring(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	alice := newKey(t, "alice@example.org", "", nil) // GnuPG-style bare UID
	bob := newKey(t, "Bob", "bob@example.org", nil)
	var block bytes.Buffer
	block.Write(armored(t, alice))
	block.Write(armored(t, bob))
	fps, err := kr.Import(&block)
	if err != nil {
		t.Fatal(err)
	}
	if len(fps) != 2 || fps[0] != FingerprintOf(alice) || fps[1] != FingerprintOf(bob) {
		t.Fatalf("Import = %v", fps)
	}
	fi, err := os.Stat(filepath.Join(dir, string(fps[0])+".asc"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file: %v %v", fi, err)
	}
	// Reopen: keys come back from disk.
	kr, err = OpenKeyring(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]Fingerprint{
		"alice@example.org": fps[0], "xmpp:Alice@example.org": fps[0], "<bob@example.org>": fps[1],
	} {
		e, err := kr.Lookup(context.Background(), addr)
		if err != nil || FingerprintOf(e) != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", addr, e, err, want)
		}
	}
	if _, err := kr.Lookup(context.Background(), "carol@example.org"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Lookup(carol) err = %v, want ErrNoKey", err)
	}
}

func TestKeyringImportStripsSecrets(t *testing.T) {
	dir := t.TempDir()
	kr, _ := OpenKeyring(dir, zap.NewNop())
	e := newKey(t, "", "s@example.org", nil)
	data, err := armorPrivate(e)
	if err != nil {
		t.Fatal(err)
	}
	fps, err := kr.Import(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, string(fps[0])+".asc"))
	if bytes.Contains(onDisk, []byte("PRIVATE")) {
		t.Error("secret key stored in keyring")
	}
	got, _ := kr.Lookup(context.Background(), "s@example.org")
	if got.PrivateKey != nil {
		t.Error("secret key kept in memory")
	}
}

func TestKeyringImportLimits(t *testing.T) {
	kr, _ := OpenKeyring(t.TempDir(), zap.NewNop())
	big := strings.NewReader(strings.Repeat("A", MaxKeyBytes+10))
	if _, err := kr.Import(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized import: %v, want ErrTooLarge", err)
	}
	if _, err := kr.Import(strings.NewReader("garbage")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("garbage import: %v, want ErrInvalidKey", err)
	}
	var many bytes.Buffer
	k := newKey(t, "", "m@example.org", nil)
	for range MaxKeysPerBlock + 1 {
		if err := k.Serialize(&many); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kr.Import(&many); !errors.Is(err, ErrTooManyKeys) {
		t.Errorf("too many keys: %v, want ErrTooManyKeys", err)
	}
}

func TestKeyringSeesImportsByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	running, err := OpenKeyring(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := running.Lookup(context.Background(), "late@example.org"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("before import: %v, want ErrNoKey", err)
	}
	other, err := OpenKeyring(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e, err := openpgp.NewEntity("", "", "late@example.org", GenConfig(time.Now(), rand.Reader))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ArmorPublic(e)
	time.Sleep(10 * time.Millisecond) // let the directory's mtime move on coarse clocks
	if _, err := other.Import(bytes.NewReader(pub)); err != nil {
		t.Fatal(err)
	}
	got, err := running.Lookup(context.Background(), "late@example.org")
	if err != nil || FingerprintOf(got) != FingerprintOf(e) {
		t.Fatalf("after import by another keyring: %v, %v", got, err)
	}
}
