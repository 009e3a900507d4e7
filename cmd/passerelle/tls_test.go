package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "old.example.org")
	conf, h, err := loadTLS(TLSConfig{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	name := func() string {
		c, err := conf.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	if got := name(); got != "old.example.org" {
		t.Fatalf("serving %s", got)
	}
	writeCert(t, dir, "new.example.org")
	if err := h.reload(); err != nil {
		t.Fatal(err)
	}
	if got := name(); got != "new.example.org" {
		t.Fatalf("after reload serving %s", got)
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("garbage"), 0o600)
	if err := h.reload(); err == nil {
		t.Fatal("a broken key file was accepted")
	}
	if got := name(); got != "new.example.org" {
		t.Fatalf("a failed reload replaced the certificate: serving %s", got)
	}
}
