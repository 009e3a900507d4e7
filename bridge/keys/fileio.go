package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// writeTemp writes data to a new 0600 temporary file in dir and syncs it.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return name, nil
}

// writeFileAtomic replaces dir/name with data: temp file, fsync, rename,
// directory fsync.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", name, err)
	}
	return syncDir(dir)
}

// writeFileNew creates dir/name with data only if it does not exist yet
// (hard link of a synced temp file), so two writers never replace each
// other's key. It reports os.ErrExist when the file is already there.
func writeFileNew(dir, name string, data []byte) error {
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, filepath.Join(dir, name)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ErrExist
		}
		return fmt.Errorf("link into %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// armorPrivate serialises e with its secret keys, ASCII-armored.
func armorPrivate(e *openpgp.Entity) ([]byte, error) {
	return armorEntity(e, openpgp.PrivateKeyType, func(w io.Writer) error {
		return e.SerializePrivateWithoutSigning(w, nil)
	})
}

// ArmorPublic serialises the public part of e, ASCII-armored.
func ArmorPublic(e *openpgp.Entity) ([]byte, error) {
	return armorEntity(e, openpgp.PublicKeyType, e.Serialize)
}

func armorEntity(e *openpgp.Entity, typ string, ser func(io.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		return nil, fmt.Errorf("armor key: %w", err)
	}
	if err := ser(w); err != nil {
		return nil, fmt.Errorf("serialise key %X: %w", e.PrimaryKey.Fingerprint, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("armor key: %w", err)
	}
	return buf.Bytes(), nil
}
