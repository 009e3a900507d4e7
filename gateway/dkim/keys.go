package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// KeyType is the kind of key [GenerateKey] makes.
type KeyType string

// Key types.
const (
	Ed25519 KeyType = "ed25519" // RFC 8463
	RSA     KeyType = "rsa"     // 2048 bits (RFC 8301 §3.2)
)

// MinRSABits is the smallest RSA key accepted (RFC 8301 §3.2 requires
// verifiers to handle 1024 to 4096 bits; 1024 is no longer safe).
const MinRSABits = 2048

// GenerateKey makes a new signing key.
func GenerateKey(kind KeyType) (crypto.Signer, error) {
	switch kind {
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case RSA:
		return rsa.GenerateKey(rand.Reader, MinRSABits)
	}
	return nil, fmt.Errorf("dkim: unknown key type %q", kind)
}

// EncodePrivateKey returns k as a PKCS #8 "PRIVATE KEY" PEM block.
func EncodePrivateKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("dkim: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PEM private key: PKCS #8 (Ed25519 or RSA) or
// PKCS #1 ("RSA PRIVATE KEY"). RSA keys under [MinRSABits] are refused.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("dkim: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("dkim: unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: parse key: %w", err)
	}
	return checkKey(key)
}

func checkKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return nil, fmt.Errorf("dkim: RSA key of %d bits, want at least %d", n, MinRSABits)
		}
		return k, nil
	}
	return nil, fmt.Errorf("dkim: unsupported key type %T", key)
}

// LoadKeyFile reads a private key file (see [ParsePrivateKey]).
func LoadKeyFile(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dkim: read key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
