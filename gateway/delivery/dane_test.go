package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"passerelle/gateway/dane"
	"passerelle/internal/dnstest"
)

// TestDANE: MX delivery with a real DNS server answering (with or without
// the AD bit a validating resolver sets) and real STARTTLS. A secure MX
// whose host publishes a matching DANE-EE record is delivered over TLS
// verified by it, with no CA involved; a mismatch, or a server without
// STARTTLS, is a temporary failure and never a plaintext delivery; a
// failed TLSA lookup skips the host; insecure answers leave the ordinary
// opportunistic TLS, and so does a domain whose policy is "none".
func TestDANE(t *testing.T) {
	cert, _ := testCert(t)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	match, other := hex.EncodeToString(sum[:]), hex.EncodeToString(make([]byte, 32))
	withTLS := startServer(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	plain := startServer(t, serverOpts{})
	for _, tc := range []struct {
		name     string
		plainSrv bool
		mxSecure bool
		tlsa     string // "" none
		tlsaAD   bool
		servfail bool
		policy   TLSLevel
		unusable bool // publish usage 1 (PKIX-EE) instead of 3
		wantErr  string
		wantTLS  bool
	}{
		{name: "secure MX, matching DANE-EE: verified TLS", mxSecure: true, tlsa: match, tlsaAD: true, wantTLS: true},
		{name: "secure MX, TLSA mismatch: no delivery", mxSecure: true, tlsa: other, tlsaAD: true, wantErr: "4.7.5"},
		{name: "secure MX, matching TLSA, no STARTTLS: never plaintext", plainSrv: true, mxSecure: true, tlsa: match, tlsaAD: true, wantErr: "4.7.10"},
		{name: "secure MX, TLSA lookup fails: host skipped", mxSecure: true, servfail: true, wantErr: "4.7.5"},
		{name: "secure MX, only unusable records: TLS required, not verified", mxSecure: true, tlsa: other, tlsaAD: true, unusable: true, wantTLS: true},
		{name: "secure MX, only unusable records, no STARTTLS", plainSrv: true, mxSecure: true, tlsa: other, tlsaAD: true, unusable: true, wantErr: "4.7.10"},
		{name: "insecure MX: TLSA ignored, opportunistic TLS", tlsa: other, tlsaAD: true, wantTLS: true},
		{name: "secure MX, insecure TLSA: ignored", mxSecure: true, tlsa: other, wantTLS: true},
		{name: "secure MX, no TLSA: opportunistic, plaintext allowed", plainSrv: true, mxSecure: true},
		{name: "policy none: DANE not consulted", plainSrv: true, mxSecure: true, tlsa: match, tlsaAD: true, policy: TLSNone},
		{name: "MTA-STS enforce (verify) and DANE: DANE authenticates a certificate no CA signed", mxSecure: true, tlsa: match, tlsaAD: true, policy: TLSVerify, wantTLS: true},
		{name: "verify without DANE: the untrusted certificate fails", mxSecure: false, tlsa: match, tlsaAD: true, policy: TLSVerify, wantErr: "4.7.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := withTLS
			if tc.plainSrv {
				srv = plain
			}
			d := dnstest.Start(t)
			d.SetMX("example.org", 10, "mx.test")
			d.SetADFor("example.org", tc.mxSecure)
			name := fmt.Sprintf("_%d._tcp.mx.test", srv.port)
			usage := uint8(dane.UsageDANEEE)
			if tc.unusable {
				usage = dane.UsagePKIXEE
			}
			if tc.tlsa != "" {
				d.SetTLSA(name, usage, dane.SelectorSPKI, dane.MatchSHA256, tc.tlsa)
			}
			d.SetADFor(name, tc.tlsaAD)
			if tc.servfail {
				d.Fail(name, dnstest.ServFail)
			}
			tg := newTestTarget(t, srv.port, func(c *Config) {
				c.DANE = &dane.Resolver{Server: d.Addr, Timeout: 2 * time.Second}
				c.Resolver.(*fakeResolver).mx["example.org"][0].Host = "mx.test"
				c.TLSPolicy = func(context.Context, string) (Policy, error) { return Policy{Level: tc.policy}, nil }
			})
			err := tg.Send(context.Background(), msg("bob@example.org", dotBody))
			if tc.wantErr != "" {
				wantOutcome(t, err, false, tc.wantErr)
				select {
				case r := <-srv.got:
					t.Fatalf("delivered anyway (tls=%v)", r.tls)
				default:
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := srv.next(t); r.tls != tc.wantTLS {
				t.Errorf("delivered with tls=%v, want %v", r.tls, tc.wantTLS)
			}
		})
	}
}
