package ox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/keys"
	"passerelle/internal/gpgtest"
)

func fpr(e *openpgp.Entity) string { return string(keys.FingerprintOf(e)) }

func TestGnuPGOpensSeal(t *testing.T) {
	f := newFixture(t)
	g := gpgtest.New(t)
	g.Run(gpgtest.ArmorKey(t, f.alice, true), "--import")
	g.Run(gpgtest.ArmorKey(t, f.puppet, false), "--import")
	g.Run(gpgtest.ArmorKey(t, f.domain, false), "--import")

	ct := f.seal(t, func(c *SealConfig) { c.Time = time.Now() })
	plain, status := g.Run(ct, "--decrypt")
	if !bytes.HasPrefix(plain, []byte("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/>")) ||
		!bytes.Contains(plain, []byte("<payload>"+payload+"</payload>")) {
		t.Errorf("gpg plaintext = %s", plain)
	}
	keyID := fpr(f.puppet)[24:]
	for _, want := range []string{"GOODSIG " + keyID, "VALIDSIG " + fpr(f.puppet), "DECRYPTION_OKAY", "GOODMDC"} {
		if !strings.Contains(status, want) {
			t.Errorf("gpg status lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, "BADMDC") || strings.Contains(status, "DECRYPTION_FAILED") {
		t.Errorf("gpg status:\n%s", status)
	}
	t.Logf("gpg status:\n%s", grepStatus(status, "DECRYPTION_INFO", "VALIDSIG", "GOODSIG"))

	// The domain key's certification of the puppet user ID checks out in gpg.
	sigs, _ := g.Run(nil, "--with-colons", "--check-sigs", fpr(f.puppet))
	if !strings.Contains(string(sigs), "sig:!::22:"+fpr(f.domain)[24:]) {
		t.Errorf("no good domain certification in:\n%s", sigs)
	}
	list, _ := g.Run(nil, "--with-colons", "--list-keys", fpr(f.puppet))
	t.Logf("gpg key listing:\n%s", list)
	if !strings.Contains(string(list), "pub:-:255:22:") || !strings.Contains(string(list), "sub:-:255:18:") {
		t.Errorf("gpg does not list ed25519(22)/cv25519(18):\n%s", list)
	}
}

func TestOpenGnuPGMessage(t *testing.T) {
	f := newFixture(t)
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "xmpp:juliet@example.net", "future-default", "default", "never")
	julietPub, _ := g.Run(nil, "--export", "xmpp:juliet@example.net")
	el, err := keys.ParseKeys(julietPub)
	if err != nil {
		t.Fatal(err)
	}
	juliet := el[0]
	t.Logf("gpg-made key: v%d algo %d, subkey algo %d", juliet.PrimaryKey.Version, juliet.PrimaryKey.PubKeyAlgo, juliet.Subkeys[0].PublicKey.PubKeyAlgo)
	g.Run(gpgtest.ArmorKey(t, f.alice, false), "--import")

	now := time.Now().UTC()
	plain := fmt.Sprintf("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/><time stamp='%s'/><rpad>xyz</rpad><payload>%s</payload></signcrypt>",
		now.Format(time.RFC3339), payload)
	ct, _ := g.Run([]byte(plain), "--trust-model", "always", "--encrypt", "--sign",
		"--recipient", fpr(f.alice), "--local-user", "xmpp:juliet@example.net")
	sc, err := Open(ct, OpenConfig{Keyring: openpgp.EntityList{f.alice}, Senders: openpgp.EntityList{juliet},
		Recipient: aliceJID})
	if err != nil {
		t.Fatal(err)
	}
	if string(sc.Payload) != payload || fpr(sc.Signer) != fpr(juliet) {
		t.Errorf("opened %+v", sc)
	}
}

func grepStatus(status string, words ...string) string {
	var out []string
	for _, l := range strings.Split(status, "\n") {
		for _, w := range words {
			if strings.Contains(l, "[GNUPG:] "+w) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// sqop is Sequoia's Stateless OpenPGP CLI.
func sqop(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("sqop")
	if err != nil {
		t.Fatal("sqop (Sequoia) is not installed: apt-get install sqop")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sqop %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

func TestSqopInterop(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aliceSec, alicePub := write("alice.sec", gpgtest.ArmorKey(t, f.alice, true)), write("alice.pub", gpgtest.ArmorKey(t, f.alice, false))
	pupSec, pupPub := write("puppet.sec", gpgtest.ArmorKey(t, f.puppet, true)), write("puppet.pub", gpgtest.ArmorKey(t, f.puppet, false))

	// Ours -> sqop.
	verif := filepath.Join(dir, "verif")
	plain := sqop(t, f.seal(t, func(c *SealConfig) { c.Time = time.Now() }),
		"decrypt", "--verify-with", pupPub, "--verifications-out", verif, aliceSec)
	if !bytes.Contains(plain, []byte("<payload>"+payload+"</payload>")) {
		t.Errorf("sqop plaintext = %s", plain)
	}
	v, _ := os.ReadFile(verif)
	if !strings.Contains(strings.ToUpper(string(v)), fpr(f.puppet)) {
		t.Errorf("sqop verifications = %q, want puppet %s", v, fpr(f.puppet))
	}
	// sqop -> ours.
	msg := fmt.Sprintf("<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/><time stamp='%s'/><payload>%s</payload></signcrypt>",
		time.Now().UTC().Format(time.RFC3339), payload)
	ct := sqop(t, []byte(msg), "encrypt", "--no-armor", "--sign-with", pupSec, alicePub)
	sc, err := Open(ct, OpenConfig{Keyring: openpgp.EntityList{f.alice}, Senders: openpgp.EntityList{public(t, f.puppet)},
		Recipient: aliceJID})
	if err != nil || string(sc.Payload) != payload {
		t.Fatalf("Open(sqop message) = %+v, %v", sc, err)
	}
}
