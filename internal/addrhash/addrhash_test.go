package addrhash

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestKeyed(t *testing.T) {
	a, b := New([]byte("k1")), New([]byte("k2"))
	if a("Bob@Example.net") != a("bob@example.net") {
		t.Error("case changes the hash")
	}
	if a("bob@example.net") == b("bob@example.net") {
		t.Error("the key does not change the hash")
	}
	plain := sha256.Sum256([]byte("bob@example.net"))
	if len(a("x")) != 12 || a("bob@example.net") == hex.EncodeToString(plain[:6]) {
		t.Error("not a keyed 48-bit hash")
	}
	r1, r2 := Random(), Random()
	if r1("bob@example.net") == r2("bob@example.net") {
		t.Error("two random hashers agree")
	}
}
