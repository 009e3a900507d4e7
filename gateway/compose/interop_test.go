package compose

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/internal/gpgtest"
)

func fingerprint(e *openpgp.Entity) string { return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) }

// TestGnuPGDecrypts: GnuPG 2.2 opens the PGP/MIME part, finds the inner
// MIME entity with protected headers, a good signature and an MDC.
func TestGnuPGDecrypts(t *testing.T) {
	f := newPGPFixture(t)
	g := gpgtest.New(t)
	g.Run(gpgtest.ArmorKey(t, f.bob, true), "--import")
	g.Run(gpgtest.ArmorKey(t, f.signer, false), "--import")
	out := f.encrypt(t, EncryptOptions{})
	inner, status := g.Run(leaves(t, out)[1].body, "--decrypt")
	checkInner(t, inner, f.plain)
	signer := fingerprint(f.signer)
	for _, want := range []string{"GOODSIG " + signer[24:], "VALIDSIG " + signer, "DECRYPTION_OKAY",
		"GOODMDC", "DECRYPTION_INFO 2 9"} {
		if !strings.Contains(status, want) {
			t.Errorf("gpg status lacks %q:\n%s", want, status)
		}
	}
	for _, bad := range []string{"BADMDC", "DECRYPTION_FAILED", "BADSIG", "ERRSIG"} {
		if strings.Contains(status, bad) {
			t.Errorf("gpg status has %s:\n%s", bad, status)
		}
	}
	list, _ := g.Run(nil, "--with-colons", "--list-keys", fingerprint(f.bob))
	if !strings.Contains(string(list), "pub:-:255:22:") || !strings.Contains(string(list), "sub:-:255:18:") {
		t.Errorf("recipient key is not v4 ed25519(22)/cv25519(18):\n%s", list)
	}
}

// TestGnuPGReadsAutocrypt: the Autocrypt keydata imports into GnuPG.
func TestGnuPGReadsAutocrypt(t *testing.T) {
	f := newPGPFixture(t)
	g := gpgtest.New(t)
	ac := header(t, f.encrypt(t, EncryptOptions{})).Get("Autocrypt")
	_, kd, _ := strings.Cut(ac, "keydata=")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd), ""))
	if err != nil {
		t.Fatal(err)
	}
	_, status := g.Run(raw, "--import")
	if !strings.Contains(status, "IMPORT_OK 1 "+fingerprint(f.signer)) {
		t.Errorf("gpg import status:\n%s", status)
	}
}

// TestSqopDecrypts: Sequoia (sqop) opens it too and verifies the signer.
func TestSqopDecrypts(t *testing.T) {
	if _, err := exec.LookPath("sqop"); err != nil {
		t.Fatal("sqop (Sequoia) is not installed: run make deps")
	}
	f := newPGPFixture(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec, pub := write("bob.sec", gpgtest.ArmorKey(t, f.bob, true)), write("alice.pub", gpgtest.ArmorKey(t, f.signer, false))
	verif := filepath.Join(dir, "verif")
	cmd := exec.Command("sqop", "decrypt", "--verify-with", pub, "--verifications-out", verif, sec)
	cmd.Stdin = bytes.NewReader(leaves(t, f.encrypt(t, EncryptOptions{}))[1].body)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	inner, err := cmd.Output()
	if err != nil {
		t.Fatalf("sqop decrypt: %v\n%s", err, errb.String())
	}
	checkInner(t, inner, f.plain)
	v, _ := os.ReadFile(verif)
	if !strings.Contains(strings.ToUpper(string(v)), fingerprint(f.signer)) {
		t.Errorf("sqop verifications = %q", v)
	}
}
