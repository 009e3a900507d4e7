package compose

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"io"
	"mime"
	"net/mail"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

var (
	testFrom = mail.Address{Name: "Alice Liddell", Address: "alice@example.org"}
	testTo   = []mail.Address{{Address: "bob@example.net"}}
	testDate = time.Date(2025, 6, 3, 10, 15, 0, 0, time.FixedZone("", 2*3600))
)

func baseInput() Input {
	return Input{From: testFrom, To: testTo, Subject: "Hello", Text: "Hi Bob.\n", Date: testDate}
}

// newKey makes a v4 EdDSA Ed25519 key with an ECDH Curve25519 subkey, the
// kind GnuPG 2.2 reads (the Algorithm must be explicit: unset is RSA).
func newKey(t testing.TB, name, email string) *openpgp.Entity {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustCompose(t testing.TB, in Input) []byte {
	t.Helper()
	out, err := Compose(in)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	checkLines(t, out)
	return out
}

// checkLines fails on a bare CR or LF or a line over 998 octets.
func checkLines(t testing.TB, b []byte) {
	t.Helper()
	if hasBareLine(b) {
		i := bytes.IndexAny(b, "\r\n")
		t.Fatalf("bare CR or LF in output near %q", b[max(0, i-20):min(len(b), i+20)])
	}
	for i, l := range bytes.Split(b, crlf) {
		if len(l) > maxLine {
			t.Fatalf("line %d has %d octets", i+1, len(l))
		}
	}
	if len(b) > 0 && !bytes.HasSuffix(b, crlf) {
		t.Fatalf("output does not end in CRLF: %q", b[max(0, len(b)-20):])
	}
}

// header reads the top-level header of raw.
func header(t testing.TB, raw []byte) *textproto.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	return &h
}

// leaf is a decoded leaf entity.
type leaf struct {
	typ    string
	params map[string]string
	h      message.Header
	body   []byte
}

// leaves parses raw with go-message and returns its leaves, decoded.
func leaves(t testing.TB, raw []byte) []leaf {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("go-message cannot read output: %v", err)
	}
	var out []leaf
	err = e.Walk(func(path []int, e *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) {
			return err
		}
		if e.MultipartReader() != nil {
			return nil
		}
		typ, params, _ := e.Header.ContentType()
		b, err := io.ReadAll(e.Body)
		if err != nil {
			return err
		}
		out = append(out, leaf{typ, params, e.Header, b})
		return nil
	})
	if err != nil {
		t.Fatalf("walk output: %v", err)
	}
	return out
}

// decodedFields returns every top-level field as "Key: decoded value".
func decodedFields(t testing.TB, raw []byte) []string {
	t.Helper()
	h := header(t, raw)
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	var out []string
	for f := h.Fields(); f.Next(); {
		v, err := d.DecodeHeader(f.Value())
		if err != nil {
			v = f.Value()
		}
		out = append(out, f.Key()+": "+v)
	}
	return out
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func fromAddresses(t testing.TB, raw []byte) []string {
	t.Helper()
	h := header(t, raw)
	var out []string
	for _, v := range h.Values("From") {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			t.Fatalf("From %q: %v", v, err)
		}
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out
}
