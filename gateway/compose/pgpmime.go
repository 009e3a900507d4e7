package compose

import (
	"bytes"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// ObscuredSubject is the outer Subject of an encrypted message, as RFC
// 9788's baseline header confidentiality policy writes it.
const ObscuredSubject = "[...]"

// EncryptOptions tune EncryptPGPMIME.
type EncryptOptions struct {
	// Config is the go-crypto configuration; nil means go-crypto's
	// defaults with AES-256 preferred. Its Time is the signature time and
	// the time recipient keys must be valid at.
	Config *packet.Config
	// PreferEncryptMutual sets prefer-encrypt=mutual in the sender's
	// Autocrypt header.
	PreferEncryptMutual bool
	// OnBehalf says the signer is not From's own key but the gateway's
	// (its domain key, signing for a user whose secret key it does not
	// hold): no Autocrypt header is made for the signer, and msg's own
	// Autocrypt header (the sender's key), if any, is kept instead.
	OnBehalf bool
}

// EncryptPGPMIME turns msg, a canonical message such as Compose returns,
// into an RFC 3156 multipart/encrypted message. The encrypted entity is a
// multipart/mixed with protected headers (RFC 9788 hp="cipher" and
// protected-headers="v1"): every header field of msg but Bcc and
// Autocrypt, plus HP-Outer copies of the outer fields; its one part is
// msg's body with its Content-* fields. The outer header keeps Date, From,
// To, Cc, Message-ID, In-Reply-To and References; Subject becomes
// ObscuredSubject. The OpenPGP message is signed by signer when it is not
// nil (an Autocrypt header for From with signer's public key is then
// added) and encrypted to every recipient with an integrity-protected
// packet: SEIPD v1 with MDC unless every recipient announces SEIPD v2.
// With opts.OnBehalf, msg's Autocrypt header is kept instead.
func EncryptPGPMIME(msg []byte, signer *openpgp.Entity, recipients []*openpgp.Entity, opts EncryptOptions) ([]byte, error) {
	src, err := splitMessage(msg)
	if err != nil {
		return nil, err
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = &packet.Config{DefaultCipher: packet.CipherAES256}
	}
	if err := checkRecipients(recipients, cfg); err != nil {
		return nil, err
	}
	inner, err := src.protected()
	if err != nil {
		return nil, err
	}
	armored, err := seal(inner, signer, recipients, cfg)
	if err != nil {
		return nil, err
	}
	outer := src.outer
	if signer != nil && !opts.OnBehalf {
		ac, err := AutocryptHeader(src.from, signer, opts.PreferEncryptMutual)
		if err != nil {
			return nil, err
		}
		outer = append(outer, field{"Autocrypt", ac})
	} else if src.autocrypt != "" {
		outer = append(outer, field{"Autocrypt", src.autocrypt})
	}
	return writeEncrypted(outer, armored)
}

// source is msg split for EncryptPGPMIME.
type source struct {
	from      string  // addr-spec of From
	inner     []field // message fields for the protected header
	outer     []field // fields shown outside
	content   []field // Content-* fields of the body
	autocrypt string
	body      []byte
}

// outerField reports the fields left visible outside for delivery,
// display by legacy clients and threading (RFC 9788 baseline policy).
func outerField(k string) bool {
	switch k {
	case "date", "from", "to", "cc", "message-id", "in-reply-to", "references":
		return true
	}
	return false
}

func splitMessage(msg []byte) (*source, error) {
	if hasBareLine(msg) {
		return nil, invalid("message has a bare CR or LF")
	}
	br := newReader(msg)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, invalid("message header: %v", err)
	}
	src := &source{}
	for f := h.Fields(); f.Next(); {
		src.add(strings.ToLower(f.Key()), f.Key(), cleanText(f.Value()))
	}
	a, err := gomail.ParseAddress(h.Get("From"))
	if err != nil {
		return nil, invalid("message from: %v", err)
	}
	src.from = a.Address
	if src.body, err = io.ReadAll(br); err != nil {
		return nil, invalid("message body: %v", err)
	}
	return src, nil
}

func (s *source) add(lk, k, v string) {
	switch {
	case lk == "bcc", lk == "mime-version", lk == "hp-outer":
	case lk == "autocrypt":
		s.autocrypt = v
	case strings.HasPrefix(lk, "content-"):
		s.content = append(s.content, field{k, v})
	case lk == "subject":
		s.inner = append(s.inner, field{k, v})
		s.outer = append(s.outer, field{k, ObscuredSubject})
	case outerField(lk):
		s.inner = append(s.inner, field{k, v})
		s.outer = append(s.outer, field{k, v})
	default:
		s.inner = append(s.inner, field{k, v})
	}
}

// hasBareLine reports a CR not followed by LF or an LF not preceded by CR.
func hasBareLine(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') || c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// protected is the cryptographic payload: the header fields of msg, the
// HP-Outer record of the outer ones (RFC 9788) and msg's body as the
// single part of a multipart/mixed.
func (s *source) protected() ([]byte, error) {
	b := newBoundary()
	fs := []field{{"Content-Type", formatType("multipart/mixed", map[string]string{
		"boundary": b, "hp": "cipher", "protected-headers": "v1"})}}
	fs = append(fs, s.inner...)
	for _, f := range s.outer {
		fs = append(fs, field{"HP-Outer", f.k + ": " + f.v})
	}
	fs = append(fs, field{"MIME-Version", "1.0"})
	var buf bytes.Buffer
	buf.Grow(len(s.body) + 4096)
	if err := writeHeaderFields(&buf, fs); err != nil {
		return nil, err
	}
	mw := textproto.NewMultipartWriter(&buf)
	if err := mw.SetBoundary(b); err != nil {
		return nil, err
	}
	if err := writePart(mw, s.content, s.body); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
