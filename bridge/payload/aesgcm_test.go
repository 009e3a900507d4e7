package payload

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestAESGCMURL: the link decrypts the blob the way a client does it,
// written here without this package's helpers: hex fragment of 44
// octets, IV first, AES-256-GCM with the tag appended.
func TestAESGCMURL(t *testing.T) {
	raw := []byte("From: a@example.org\r\nSubject: big\r\n\r\nbody\r\n")
	x, blob, err := SealExternal(raw)
	if err != nil {
		t.Fatal(err)
	}
	x.URL = "https://upload.example.org/file_share/abc/0123.eml"
	link, err := x.AESGCMURL()
	if err != nil {
		t.Fatal(err)
	}
	base, frag, ok := strings.Cut(link, "#")
	if !ok || base != "aesgcm://upload.example.org/file_share/abc/0123.eml" || len(frag) != 88 {
		t.Fatalf("link %s", link)
	}
	kv, err := hex.DecodeString(frag)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(kv[12:])
	gcm, _ := cipher.NewGCM(block)
	got, err := gcm.Open(nil, kv[:12], blob, nil)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("client-side decryption: %v", err)
	}
	u, key, iv, err := ParseAESGCMURL(link)
	if err != nil || u != x.URL || key != x.Key || iv != x.IV {
		t.Errorf("ParseAESGCMURL = %s, %v", u, err)
	}
	for _, bad := range []string{"ftp://h/x", "https://u:p@h/x", "https:///x", "https://h/x#frag"} {
		x.URL = bad
		if _, err := x.AESGCMURL(); !errors.Is(err, ErrAESGCMURL) {
			t.Errorf("AESGCMURL(%s) = %v", bad, err)
		}
	}
	for _, bad := range []string{"https://h/x#" + frag, "aesgcm://h/x#" + frag[:86], "aesgcm://h/x#zz" + frag[2:], "aesgcm:///x#" + frag} {
		if _, _, _, err := ParseAESGCMURL(bad); !errors.Is(err, ErrAESGCMURL) {
			t.Errorf("ParseAESGCMURL(%s) = %v", bad, err)
		}
	}
}
