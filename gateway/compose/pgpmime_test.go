package compose

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/emersion/go-message/textproto"
)

// pgpFixture holds a composed message and the keys to encrypt it.
type pgpFixture struct {
	signer, bob *openpgp.Entity
	plain       []byte
}

func newPGPFixture(t testing.TB) *pgpFixture {
	t.Helper()
	in := baseInput()
	in.Subject = "Secret plans ☕"
	in.Text = "Meet at noon.\n.\nBring the key.\n"
	in.MessageID = "m1@example.org"
	in.InReplyTo = "p@example.net"
	in.Embedded = nil
	return &pgpFixture{
		signer: newKey(t, "Alice", "alice@example.org"),
		bob:    newKey(t, "Bob", "bob@example.net"),
		plain:  mustCompose(t, in),
	}
}

func (f *pgpFixture) encrypt(t testing.TB, opts EncryptOptions) []byte {
	t.Helper()
	out, err := EncryptPGPMIME(f.plain, f.signer, []*openpgp.Entity{f.bob}, opts)
	if err != nil {
		t.Fatalf("EncryptPGPMIME: %v", err)
	}
	checkLines(t, out)
	return out
}

func TestEncryptPGPMIMEStructure(t *testing.T) {
	f := newPGPFixture(t)
	out := f.encrypt(t, EncryptOptions{PreferEncryptMutual: true})
	h := header(t, out)
	want := map[string]string{
		"From":        `"Alice Liddell" <alice@example.org>`,
		"To":          "<bob@example.net>",
		"Date":        "Tue, 03 Jun 2025 10:15:00 +0200",
		"Message-Id":  "<m1@example.org>",
		"In-Reply-To": "<p@example.net>",
		"References":  "<p@example.net>",
		"Subject":     "[...]",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("outer %s = %q, want %q", k, got, v)
		}
	}
	mt, params, err := parseType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/encrypted" || params["protocol"] != "application/pgp-encrypted" {
		t.Fatalf("outer Content-Type %q", h.Get("Content-Type"))
	}
	checkAutocrypt(t, h.Get("Autocrypt"), f.signer)
	ls := leaves(t, out)
	if len(ls) != 2 || ls[0].typ != "application/pgp-encrypted" || string(ls[0].body) != "Version: 1\r\n" ||
		ls[1].typ != "application/octet-stream" {
		t.Fatalf("parts %+v", ls)
	}
	if !bytes.HasPrefix(ls[1].body, []byte("-----BEGIN PGP MESSAGE-----\r\n")) {
		t.Fatalf("not armored: %q", ls[1].body[:40])
	}
	inner := decryptGo(t, ls[1].body, f.bob, f.signer)
	checkInner(t, inner, f.plain)
	checkSEIPDv1(t, ls[1].body)
}

func parseType(v string) (string, map[string]string, error) {
	var h textproto.Header
	h.Set("Content-Type", v)
	mt, params := contentType(h, "")
	return mt, params, nil
}

// checkAutocrypt parses an Autocrypt header value (Level 1 §2.1).
func checkAutocrypt(t testing.TB, v string, key *openpgp.Entity) {
	t.Helper()
	if !strings.HasPrefix(v, "addr=alice@example.org; prefer-encrypt=mutual; keydata=") {
		t.Fatalf("Autocrypt = %.80q", v)
	}
	_, kd, _ := strings.Cut(v, "keydata=")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd), ""))
	if err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(raw))
	if err != nil || len(el) != 1 || el[0].PrimaryKey.KeyId != key.PrimaryKey.KeyId || el[0].PrivateKey != nil {
		t.Fatalf("keydata: %v %v", el, err)
	}
}

// decryptGo opens the armored message with go-crypto and checks the
// signature (read to EOF first).
func decryptGo(t testing.TB, armored []byte, key, signer *openpgp.Entity) []byte {
	t.Helper()
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(blk.Body, openpgp.EntityList{key, signer}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	if !md.IsSigned || md.SignatureError != nil || md.SignedBy == nil ||
		md.SignedBy.Entity.PrimaryKey.KeyId != signer.PrimaryKey.KeyId {
		t.Fatalf("signature: signed %v err %v", md.IsSigned, md.SignatureError)
	}
	return plain
}

// checkInner checks the protected headers (RFC 9788) and the body.
func checkInner(t testing.TB, inner, plain []byte) {
	t.Helper()
	checkLines(t, inner)
	h := header(t, inner)
	mt, params, _ := parseType(h.Get("Content-Type"))
	if mt != "multipart/mixed" || params["protected-headers"] != "v1" || params["hp"] != "cipher" {
		t.Errorf("inner Content-Type %q", h.Get("Content-Type"))
	}
	ph := header(t, plain)
	for _, k := range []string{"Subject", "From", "To", "Date", "Message-Id", "In-Reply-To", "References"} {
		if h.Get(k) != ph.Get(k) || h.Get(k) == "" {
			t.Errorf("inner %s = %q, want %q", k, h.Get(k), ph.Get(k))
		}
	}
	hp := strings.Join(h.Values("Hp-Outer"), "\n")
	for _, want := range []string{"Subject: [...]", "From: " + ph.Get("From"), "Message-Id: <m1@example.org>"} {
		if !strings.Contains(hp, want) {
			t.Errorf("HP-Outer lacks %q:\n%s", want, hp)
		}
	}
	ls := leaves(t, inner)
	pl := leaves(t, plain)
	if len(ls) != 1 || !bytes.Equal(ls[0].body, pl[0].body) || ls[0].typ != "text/plain" {
		t.Errorf("inner body %q, want %q", ls[0].body, pl[0].body)
	}
}

// checkSEIPDv1 checks the packet sequence: PKESK then an integrity
// protected (MDC) SEIPD v1 packet.
func checkSEIPDv1(t testing.TB, armored []byte) {
	t.Helper()
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	r := packet.NewReader(blk.Body)
	for {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("no encrypted data packet: %v", err)
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			continue
		case *packet.SymmetricallyEncrypted:
			if !p.IntegrityProtected || p.Version != 1 {
				t.Errorf("SEIPD version %d, integrity %v", p.Version, p.IntegrityProtected)
			}
			return
		default:
			t.Fatalf("unexpected packet %T", p)
		}
	}
}

func TestEncryptPGPMIMEEmbedded(t *testing.T) {
	f := newPGPFixture(t)
	f.plain = mustCompose(t, embeddedInput(embeddedMail))
	out, err := EncryptPGPMIME(f.plain, f.signer, []*openpgp.Entity{f.bob, f.signer}, EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, out)
	if h.Has("X-Mailer") || h.Get("Cc") == "" || h.Get("Subject") != "[...]" {
		t.Errorf("outer header %v", h.Map())
	}
	if !strings.HasPrefix(h.Get("Autocrypt"), "addr=alice@example.org; keydata=") {
		t.Errorf("Autocrypt %.60q", h.Get("Autocrypt"))
	}
	inner := decryptGo(t, leaves(t, out)[1].body, f.signer, f.signer)
	ih := header(t, inner)
	if ih.Get("X-Mailer") != "Gajim" || !strings.Contains(ih.Get("Subject"), "report") {
		t.Errorf("inner header %v", ih.Map())
	}
	if n := len(leaves(t, inner)); n != 3 {
		t.Errorf("inner has %d leaves", n)
	}
}

func TestEncryptPGPMIMENoSigner(t *testing.T) {
	f := newPGPFixture(t)
	out, err := EncryptPGPMIME(f.plain, nil, []*openpgp.Entity{f.bob}, EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, out); h.Has("Autocrypt") {
		t.Error("Autocrypt without a sender key")
	}
}

func TestEncryptPGPMIMEErrors(t *testing.T) {
	f := newPGPFixture(t)
	expired := newKey(t, "Old", "old@example.net")
	past := &packet.Config{Time: func() time.Time { return time.Now().AddDate(-10, 0, 0) }}
	rsa := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 1024, DefaultHash: crypto.SHA256}
	weak, err := openpgp.NewEntity("Weak", "", "weak@example.net", rsa)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		to   []*openpgp.Entity
		opts EncryptOptions
		want error
	}{
		{"no recipients", f.plain, nil, EncryptOptions{}, ErrInvalidInput},
		{"nil recipient", f.plain, []*openpgp.Entity{nil}, EncryptOptions{}, ErrInvalidInput},
		{"weak rsa", f.plain, []*openpgp.Entity{weak}, EncryptOptions{}, ErrWeakKey},
		{"not yet valid", f.plain, []*openpgp.Entity{expired}, EncryptOptions{Config: past}, ErrInvalidInput},
		{"bare lf", []byte("From: a@b\nTo: c@d\n\nx\n"), []*openpgp.Entity{f.bob}, EncryptOptions{}, ErrInvalidInput},
		{"no from", []byte("To: c@d\r\n\r\nx\r\n"), []*openpgp.Entity{f.bob}, EncryptOptions{}, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncryptPGPMIME(tc.msg, f.signer, tc.to, tc.opts)
			wantErr(t, err, tc.want)
		})
	}
}
