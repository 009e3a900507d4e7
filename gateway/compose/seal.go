package compose

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message/textproto"
)

const minRSABits = 2048

// checkRecipients refuses an empty list, keys without a valid encryption
// key at the configured time, and RSA keys under 2048 bits.
func checkRecipients(recipients []*openpgp.Entity, cfg *packet.Config) error {
	if len(recipients) == 0 {
		return invalid("no recipient key")
	}
	for _, e := range recipients {
		if e == nil || e.PrimaryKey == nil {
			return invalid("nil recipient key")
		}
		if weakRSA(e.PrimaryKey) {
			return fmt.Errorf("%w: %X is RSA under %d bits", ErrWeakKey, e.PrimaryKey.Fingerprint, minRSABits)
		}
		// go-crypto picks no revoked, expired or weak subkey.
		if _, ok := e.EncryptionKey(cfg.Now(), cfg); !ok {
			return invalid("recipient key %X has no usable encryption key", e.PrimaryKey.Fingerprint)
		}
	}
	return nil
}

func weakRSA(pk *packet.PublicKey) bool {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		n, err := pk.BitLength()
		return err != nil || n < minRSABits
	}
	return false
}

// seal signs (when signer is set) and encrypts plain, and returns the
// ASCII-armored OpenPGP message with CRLF line ends (RFC 3156 §4).
func seal(plain []byte, signer *openpgp.Entity, to []*openpgp.Entity, cfg *packet.Config) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(plain)*4/3 + 4096)
	aw, err := armor.Encode(&buf, "PGP MESSAGE", nil)
	if err != nil {
		return nil, err
	}
	params := &openpgp.EncryptParams{Config: cfg}
	if signer != nil {
		params.Signers = []*openpgp.Entity{signer}
	}
	pw, err := openpgp.EncryptWithParams(aw, to, nil, params)
	if err != nil {
		return nil, fmt.Errorf("compose: encrypt: %w", err)
	}
	if _, err := pw.Write(plain); err != nil {
		return nil, fmt.Errorf("compose: encrypt: %w", err)
	}
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("compose: encrypt: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	out := bytes.ReplaceAll(buf.Bytes(), []byte("\n"), crlf)
	if !bytes.HasSuffix(out, crlf) {
		out = append(out, crlf...)
	}
	return out, nil
}

// writeEncrypted writes the RFC 3156 §4 multipart/encrypted message.
func writeEncrypted(outer []field, armored []byte) ([]byte, error) {
	b := newBoundary()
	fs := append(outer, field{"MIME-Version", "1.0"}, field{"Content-Type",
		formatType("multipart/encrypted", map[string]string{
			"protocol": "application/pgp-encrypted", "boundary": b})})
	var buf bytes.Buffer
	buf.Grow(len(armored) + 4096)
	if err := writeHeaderFields(&buf, fs); err != nil {
		return nil, err
	}
	mw := textproto.NewMultipartWriter(&buf)
	if err := mw.SetBoundary(b); err != nil {
		return nil, err
	}
	version := []field{{"Content-Type", "application/pgp-encrypted"},
		{"Content-Description", "PGP/MIME version identification"}}
	if err := writePart(mw, version, []byte("Version: 1\r\n")); err != nil {
		return nil, err
	}
	data := []field{{"Content-Type", `application/octet-stream; name="encrypted.asc"`},
		{"Content-Description", "OpenPGP encrypted message"},
		{"Content-Disposition", `inline; filename="encrypted.asc"`}}
	if err := writePart(mw, data, armored); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeHeaderFields(w io.Writer, fs []field) error {
	h, err := buildHeader(fs)
	if err != nil {
		return err
	}
	return textproto.WriteHeader(w, h)
}

func writePart(mw *textproto.MultipartWriter, fs []field, body []byte) error {
	h, err := buildHeader(fs)
	if err != nil {
		return err
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

func newReader(b []byte) *bufio.Reader {
	return bufio.NewReader(bytes.NewReader(b))
}
