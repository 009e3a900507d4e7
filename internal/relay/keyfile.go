package relay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"passerelle/internal/fsutil"
)

// ErrFingerprint means a key does not have the fingerprint pinned for it.
var ErrFingerprint = errors.New("relay: key does not match the pinned fingerprint")

// NormalizeFingerprint returns fp in upper-case hex without spaces, or an
// error if it is not a v4 (40 digits) or v6 (64 digits) fingerprint.
func NormalizeFingerprint(fp string) (string, error) {
	f := strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(fp, " ", ""), ":", ""))
	if b, err := hex.DecodeString(f); err != nil || (len(b) != 20 && len(b) != 32) {
		return "", fmt.Errorf("relay: fingerprint %q: want 40 or 64 hex digits", fp)
	}
	return f, nil
}

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// ParsePublicKey reads one binary transferable public key and checks its
// fingerprint against want (normalised).
func ParsePublicKey(pub []byte, want string) (*openpgp.Entity, error) {
	el, err := openpgp.ReadKeyRing(bytes.NewReader(pub))
	if err != nil || len(el) != 1 || el[0].PrivateKey != nil {
		return nil, fmt.Errorf("relay: not one public key: %v", err)
	}
	if got := fingerprint(el[0]); got != want {
		return nil, fmt.Errorf("%w: got %s, pinned %s", ErrFingerprint, got, want)
	}
	return el[0], nil
}

func serializePublic(e *openpgp.Entity) ([]byte, error) {
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		return nil, fmt.Errorf("relay: serialise key: %w", err)
	}
	return b.Bytes(), nil
}

// keyFile is the durable copy of a peer's public key (the hub keeps each
// client's, the client the hub's), so that mail can be sealed while the
// other side is offline. It is written through internal/fsutil.
type keyFile struct {
	dir, name string
	fs        fsutil.FS
}

func newKeyFile(path string) keyFile {
	return keyFile{dir: filepath.Dir(path), name: filepath.Base(path), fs: fsutil.OS{}}
}

// load returns the stored key if it has the fingerprint want; nil if there
// is none (or it is another key: a re-pinned fingerprint waits for hello).
func (k keyFile) load(want string) (*openpgp.Entity, error) {
	b, err := os.ReadFile(filepath.Join(k.dir, k.name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: read key: %w", err)
	}
	e, err := ParsePublicKey(b, want)
	if errors.Is(err, ErrFingerprint) {
		return nil, nil
	}
	return e, err
}

func (k keyFile) save(e *openpgp.Entity) error {
	b, err := serializePublic(e)
	if err != nil {
		return err
	}
	if err := fsutil.MkdirAll(k.fs, k.dir); err != nil {
		return fmt.Errorf("relay: key dir: %w", err)
	}
	if err := fsutil.WriteAtomic(k.fs, k.dir, k.name, b); err != nil {
		return fmt.Errorf("relay: write key: %w", err)
	}
	return nil
}

// loadJID returns the full JID of account stored in the file, or zero.
func (k keyFile) loadJID(account jid.JID) jid.JID {
	b, err := os.ReadFile(filepath.Join(k.dir, k.name))
	if err != nil {
		return jid.JID{}
	}
	j, err := jid.Parse(strings.TrimSpace(string(b)))
	if err != nil || !j.Bare().Equal(account.Bare()) || j.Resourcepart() == "" {
		return jid.JID{}
	}
	return j
}

func (k keyFile) saveJID(j jid.JID) error {
	if err := fsutil.MkdirAll(k.fs, k.dir); err != nil {
		return fmt.Errorf("relay: key dir: %w", err)
	}
	if err := fsutil.WriteAtomic(k.fs, k.dir, k.name, []byte(j.String()+"\n")); err != nil {
		return fmt.Errorf("relay: write session: %w", err)
	}
	return nil
}
