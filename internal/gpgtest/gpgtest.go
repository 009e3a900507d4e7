// Package gpgtest runs the real GnuPG 2.2 for interop tests: a throw-away
// home directory per test, the agent killed at cleanup, and a clear failure
// (never a skip) when gpg is not installed.
package gpgtest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// GPG is one GnuPG home directory.
type GPG struct {
	t    testing.TB
	bin  string
	home string
}

// New makes a GnuPG home under the system temp directory (gpg-agent's
// socket path is length-limited, so not under t.TempDir) and removes it,
// agent included, when the test ends.
func New(t testing.TB) *GPG {
	t.Helper()
	bin, err := exec.LookPath("gpg")
	if err != nil {
		t.Fatal("gpg (GnuPG 2.2) is not installed: run `make deps` (apt-get install gnupg)")
	}
	home, err := os.MkdirTemp("", "pgpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	return &GPG{t: t, bin: bin, home: home}
}

// Home is the GNUPGHOME directory.
func (g *GPG) Home() string { return g.home }

// Run runs gpg in batch mode and returns its stdout and its stderr, which
// carries the machine-readable status lines (--status-fd 2). A non-zero
// exit fails the test.
func (g *GPG) Run(stdin []byte, args ...string) (stdout []byte, status string) {
	g.t.Helper()
	base := []string{"--homedir", g.home, "--batch", "--no-tty", "--pinentry-mode", "loopback",
		"--passphrase", "", "--status-fd", "2"}
	cmd := exec.Command(g.bin, append(base, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), errb.String()
}

// Import imports e's public key, or its secret key too.
func (g *GPG) Import(e *openpgp.Entity, secret bool) {
	g.t.Helper()
	g.Run(ArmorKey(g.t, e, secret), "--import")
}

// ArmorKey returns e's public key, or its secret key, ASCII-armored.
func ArmorKey(t testing.TB, e *openpgp.Entity, secret bool) []byte {
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
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
