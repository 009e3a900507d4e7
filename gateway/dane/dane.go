package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TLSA usages, selectors and matching types (RFC 6698 §2.1, RFC 7218).
const (
	UsagePKIXTA = 0
	UsagePKIXEE = 1
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0 // the whole certificate, DER
	SelectorSPKI = 1 // its SubjectPublicKeyInfo, DER

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Record is one TLSA record.
type Record struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte // certificate association data
}

func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %x", r.Usage, r.Selector, r.MatchingType, r.Data)
}

// Usable reports whether r can authenticate an SMTP server (RFC 7672
// §3.1): DANE-TA or DANE-EE, with a known selector and matching type, and
// association data of the matching type's length.
func (r Record) Usable() bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE {
		return false
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == sha256.Size
	case MatchSHA512:
		return len(r.Data) == sha512.Size
	}
	return false
}

// Usable returns the usable records of recs.
func Usable(recs []Record) []Record {
	var out []Record
	for _, r := range recs {
		if r.Usable() {
			out = append(out, r)
		}
	}
	return out
}

// matches reports whether r's association data matches c.
func (r Record) matches(c *x509.Certificate) bool {
	data := c.Raw
	if r.Selector == SelectorSPKI {
		data = c.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case MatchSHA256:
		sum := sha256.Sum256(data)
		return bytes.Equal(sum[:], r.Data)
	case MatchSHA512:
		sum := sha512.Sum512(data)
		return bytes.Equal(sum[:], r.Data)
	}
	return bytes.Equal(data, r.Data)
}

// ErrNoMatch is returned when no usable record matches the server.
var ErrNoMatch = errors.New("dane: no TLSA record matches the server's certificate chain")

// Verify checks the server of cs against recs for the MX host name host.
// It succeeds when a DANE-EE record matches the server's certificate, or
// a DANE-TA record matches a certificate in the chain the server sent
// that issues, through the others, a currently valid certificate for host.
func Verify(recs []Record, host string, cs tls.ConnectionState, now time.Time) error {
	chain := cs.PeerCertificates
	if len(chain) == 0 {
		return errors.New("dane: the server sent no certificate")
	}
	leaf := chain[0]
	var taErr error
	for _, r := range recs {
		if !r.Usable() {
			continue
		}
		switch r.Usage {
		case UsageDANEEE:
			if r.matches(leaf) {
				return nil
			}
		case UsageDANETA:
			for i, c := range chain {
				if !r.matches(c) {
					continue
				}
				err := verifyFrom(c, chain[1:i+1], leaf, host, now)
				if err == nil {
					return nil
				}
				taErr = err
			}
		}
	}
	if taErr != nil {
		return fmt.Errorf("%w: a DANE-TA record matched, but: %w", ErrNoMatch, taErr)
	}
	return ErrNoMatch
}

// verifyFrom checks that ta issues leaf for host through inter.
func verifyFrom(ta *x509.Certificate, inter []*x509.Certificate, leaf *x509.Certificate, host string, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	pool := x509.NewCertPool()
	for _, c := range inter {
		pool.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, DNSName: host, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}
