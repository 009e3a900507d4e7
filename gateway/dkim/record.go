package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// maxTXTString is the longest character-string in a TXT record
// (RFC 1035 §3.3); longer values are split into several.
const maxTXTString = 255

// DNSRecord returns the zone-file line publishing pub for selector and
// domain, e.g.
//
//	sel._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=..."
//
// An RSA record is longer than 255 bytes and comes as several strings,
// which verifiers concatenate (RFC 6376 §3.6.2.2).
func DNSRecord(selector, domain string, pub crypto.PublicKey) (string, error) {
	v, err := recordValue(pub)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s._domainkey.%s. IN TXT", selector, strings.TrimSuffix(domain, "."))
	for len(v) > 0 {
		n := min(len(v), maxTXTString)
		fmt.Fprintf(&b, " %q", v[:n])
		v = v[n:]
	}
	return b.String(), nil
}

// recordValue is the TXT record text (RFC 6376 §3.6.1, RFC 8463 §4.2).
func recordValue(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("dkim: encode public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
}
