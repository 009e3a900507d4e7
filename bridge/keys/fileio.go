package keys

import (
	"bytes"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

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
