package dane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"passerelle/internal/dnstest"
)

type pki struct {
	ca, leaf, expired, self *x509.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	now := time.Now()
	mk := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := key(), key()
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	var p pki
	p.ca = mk(caT, caT, &caKey.PublicKey, caKey)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mx.example"},
		DNSNames: []string{"mx.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	p.leaf = mk(leafT, p.ca, &leafKey.PublicKey, caKey)
	expT := *leafT
	expT.SerialNumber, expT.NotBefore, expT.NotAfter = big.NewInt(3), now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	p.expired = mk(&expT, p.ca, &leafKey.PublicKey, caKey)
	selfT := &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}
	p.self = mk(selfT, selfT, &leafKey.PublicKey, leafKey)
	return p
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha512Of(b []byte) []byte { s := sha512.Sum512(b); return s[:] }

func TestVerify(t *testing.T) {
	p := newPKI(t)
	chain := func(cs ...*x509.Certificate) tls.ConnectionState { return tls.ConnectionState{PeerCertificates: cs} }
	for _, tc := range []struct {
		name string
		recs []Record
		cs   tls.ConnectionState
		host string
		ok   bool
	}{
		{"DANE-EE SPKI SHA-256 of the leaf", []Record{{3, 1, 1, sha256Of(p.leaf.RawSubjectPublicKeyInfo)}}, chain(p.leaf, p.ca), "mx.example", true},
		{"DANE-EE full certificate SHA-512", []Record{{3, 0, 2, sha512Of(p.leaf.Raw)}}, chain(p.leaf), "mx.example", true},
		{"DANE-EE exact certificate", []Record{{3, 0, 0, p.leaf.Raw}}, chain(p.leaf), "mx.example", true},
		{"DANE-EE ignores name and dates: expired self-signed for another name", []Record{{3, 1, 1, sha256Of(p.self.RawSubjectPublicKeyInfo)}}, chain(p.self), "mx.example", true},
		{"DANE-EE of another key", []Record{{3, 1, 1, sha256Of(p.ca.RawSubjectPublicKeyInfo)}}, chain(p.leaf, p.ca), "mx.example", false},
		{"DANE-TA of the CA the server sends", []Record{{2, 0, 1, sha256Of(p.ca.Raw)}}, chain(p.leaf, p.ca), "mx.example", true},
		{"DANE-TA SPKI of the CA", []Record{{2, 1, 1, sha256Of(p.ca.RawSubjectPublicKeyInfo)}}, chain(p.leaf, p.ca), "mx.example", true},
		{"DANE-TA, certificate for another name", []Record{{2, 0, 1, sha256Of(p.ca.Raw)}}, chain(p.leaf, p.ca), "mx2.example", false},
		{"DANE-TA, expired leaf", []Record{{2, 0, 1, sha256Of(p.ca.Raw)}}, chain(p.expired, p.ca), "mx.example", false},
		{"DANE-TA, CA not sent by the server", []Record{{2, 0, 1, sha256Of(p.ca.Raw)}}, chain(p.leaf), "mx.example", false},
		{"PKIX-EE is not used for SMTP", []Record{{1, 1, 1, sha256Of(p.leaf.RawSubjectPublicKeyInfo)}}, chain(p.leaf, p.ca), "mx.example", false},
		{"PKIX-TA is not used for SMTP", []Record{{0, 0, 1, sha256Of(p.ca.Raw)}}, chain(p.leaf, p.ca), "mx.example", false},
		{"SHA-256 of the wrong length is unusable", []Record{{3, 1, 1, sha256Of(p.leaf.RawSubjectPublicKeyInfo)[:31]}}, chain(p.leaf), "mx.example", false},
		{"one usable match among unusable ones", []Record{{1, 1, 1, []byte{1}}, {3, 1, 9, []byte{2}}, {3, 1, 1, sha256Of(p.leaf.RawSubjectPublicKeyInfo)}}, chain(p.leaf), "mx.example", true},
		{"no certificate", []Record{{3, 1, 1, sha256Of(p.leaf.RawSubjectPublicKeyInfo)}}, chain(), "mx.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.recs, tc.host, tc.cs, time.Now())
			if (err == nil) != tc.ok {
				t.Fatalf("Verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestResolver: the AD bit of MX and TLSA answers, a name without records,
// and SERVFAIL as an error (a validating resolver's answer to bogus data)
// rather than "no records".
func TestResolver(t *testing.T) {
	d := dnstest.Start(t)
	r := &Resolver{Server: d.Addr, Timeout: 2 * time.Second}
	ctx := context.Background()
	d.SetMX("signed.example", 10, "mx.signed.example")
	d.SetMX("plain.example", 10, "mx.plain.example")
	d.SetADFor("signed.example", true)
	d.SetADFor("_25._tcp.mx.signed.example", true)
	spki := hex.EncodeToString(make([]byte, 32))
	d.SetTLSA("_25._tcp.mx.signed.example", 3, 1, 1, spki)
	d.SetTLSA("_25._tcp.mx.plain.example", 3, 1, 1, spki)
	d.Fail("_25._tcp.mx.bogus.example", dnstest.ServFail)

	for dom, want := range map[string]bool{"signed.example": true, "plain.example": false} {
		if got, err := r.SecureMX(ctx, dom); err != nil || got != want {
			t.Errorf("SecureMX(%s) = %v, %v; want %v", dom, got, err, want)
		}
	}
	recs, secure, err := r.TLSA(ctx, "mx.signed.example", 25)
	if err != nil || !secure || len(recs) != 1 || recs[0].Usage != 3 || len(recs[0].Data) != 32 || !recs[0].Usable() {
		t.Errorf("TLSA signed: %v %v %v", recs, secure, err)
	}
	if recs, secure, err := r.TLSA(ctx, "mx.plain.example", 25); err != nil || secure || len(recs) != 1 {
		t.Errorf("TLSA unsigned: %v %v %v", recs, secure, err)
	}
	if recs, _, err := r.TLSA(ctx, "mx.none.example", 25); err != nil || len(recs) != 0 {
		t.Errorf("TLSA of a name without records: %v %v", recs, err)
	}
	if _, _, err := r.TLSA(ctx, "mx.bogus.example", 25); !errors.Is(err, ErrLookup) {
		t.Errorf("TLSA SERVFAIL: %v, want ErrLookup", err)
	}
}
