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

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// gnupg runs GnuPG 2.2 in a throw-away home directory.
type gnupg struct {
	t    *testing.T
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("gpg (GnuPG 2.2) is not installed: run make deps")
	}
	home, err := os.MkdirTemp("", "cgpg") // short: gpg-agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	return &gnupg{t: t, home: home}
}

// run returns stdout and the --status-fd lines.
func (g *gnupg) run(stdin []byte, args ...string) ([]byte, string) {
	g.t.Helper()
	base := []string{"--homedir", g.home, "--batch", "--no-tty", "--pinentry-mode", "loopback",
		"--passphrase", "", "--status-fd", "2"}
	cmd := exec.Command("gpg", append(base, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), errb.String()
}

func armorKey(t testing.TB, e *openpgp.Entity, secret bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	typ := openpgp.PublicKeyType
	if secret {
		typ = openpgp.PrivateKeyType
	}
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret {
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

func fingerprint(e *openpgp.Entity) string { return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) }

// TestGnuPGDecrypts: GnuPG 2.2 opens the PGP/MIME part, finds the inner
// MIME entity with protected headers, a good signature and an MDC.
func TestGnuPGDecrypts(t *testing.T) {
	f := newPGPFixture(t)
	g := newGnuPG(t)
	g.run(armorKey(t, f.bob, true), "--import")
	g.run(armorKey(t, f.signer, false), "--import")
	out := f.encrypt(t, EncryptOptions{})
	inner, status := g.run(leaves(t, out)[1].body, "--decrypt")
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
	list, _ := g.run(nil, "--with-colons", "--list-keys", fingerprint(f.bob))
	if !strings.Contains(string(list), "pub:-:255:22:") || !strings.Contains(string(list), "sub:-:255:18:") {
		t.Errorf("recipient key is not v4 ed25519(22)/cv25519(18):\n%s", list)
	}
}

// TestGnuPGReadsAutocrypt: the Autocrypt keydata imports into GnuPG.
func TestGnuPGReadsAutocrypt(t *testing.T) {
	f := newPGPFixture(t)
	g := newGnuPG(t)
	ac := header(t, f.encrypt(t, EncryptOptions{})).Get("Autocrypt")
	_, kd, _ := strings.Cut(ac, "keydata=")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd), ""))
	if err != nil {
		t.Fatal(err)
	}
	_, status := g.run(raw, "--import")
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
	sec, pub := write("bob.sec", armorKey(t, f.bob, true)), write("alice.pub", armorKey(t, f.signer, false))
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
