package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os/exec"
	"strings"
	"testing"
	"time"

	"passerelle/gateway/dane"
	"passerelle/internal/dnstest"
)

// daneMain is the recipient domain's MX: a throwaway Postfix offering
// STARTTLS with a self-signed certificate (what DANE-EE is for) and
// relaying to the capturing sink; its Received header says whether the
// gateway used TLS.
const daneMain = `
smtpd_tls_cert_file = {{conf}}/cert.pem
smtpd_tls_key_file = {{conf}}/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
`

// TestReverseDANEToPostfix: the reverse path delivers to a real Postfix
// MX of a DNSSEC-signed domain (the test DNS sets the AD bit a validating
// resolver would) over TLS verified by the MX host's DANE-EE TLSA record;
// while the record names another key, the mail waits in the queue (never
// plaintext, although Postfix would take it so) and goes out once the
// record is fixed.
func TestReverseDANEToPostfix(t *testing.T) {
	sink := startSink(t)
	certPEM, keyPEM, spki := daneCert(t)
	_, sinkPort, _ := strings.Cut(sink.addr, ":")
	pf := startPostfix(t, strings.ReplaceAll(postfixMain, "{{sinkport}}", sinkPort)+daneMain,
		map[string]string{"cert.pem": certPEM, "key.pem": keyPEM})
	_, mxPort, _ := strings.Cut(pf.Addr, ":")

	d := dnstest.Start(t)
	d.SetMX("remote.example", 10, "mx.remote.example")
	d.SetA("mx.remote.example", "127.0.0.1")
	d.SetAD(true)
	tlsa := "_" + mxPort + "._tcp.mx.remote.example"
	other := sha256.Sum256([]byte("another key"))
	d.SetTLSA(tlsa, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, hex.EncodeToString(other[:]))

	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, Extra: fmt.Sprintf(`
[policy.domains."remote.example"]
reverse_plaintext = true
[delivery]
port = %s
dns_server = "%s"
allow_private = true
mta_sts = false
dane = true
`, mxPort, d.Addr)})
	ctx := ctxT(t, 2*time.Minute)
	alice := newRevClient(t, srv.Client(ctx, t, "alice", "alice-pw"))
	bob := strings.Replace("bob@remote.example", "@", `\40`, 1) + "@" + srv.Component

	m := marker("dane")
	alice.send(t, bob, "d1", append(elem("", "subject", "DANE "+m), elem("", "body", "over verified TLS "+m)...)...)
	waitLog(t, gw, "TLSA", 60*time.Second) // the first attempt fails the TLSA match
	if got := queueList(t, gw); !strings.Contains(got, "no TLSA record matches") {
		t.Errorf("queue list while the TLSA record names another key:\n%s", got)
	}
	if n := countMarker(sink, m); n != 0 {
		t.Fatalf("delivered %d times while no TLSA record matched", n)
	}

	d.SetTLSA(tlsa, dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, spki)
	if out, err := exec.Command(binary, "queue", "retry", "--all", "-c", gw.path).CombinedOutput(); err != nil {
		t.Fatalf("queue retry: %v\n%s", err, out)
	}
	c := sink.wait(t, m, 60*time.Second)
	if rcv := c.header("Received"); !strings.Contains(rcv, "using TLS") {
		t.Errorf("Postfix's Received header shows no TLS: %q", rcv)
	}
	if n := countMarker(sink, m); n != 1 {
		t.Errorf("delivered %d times", n)
	}
}

// daneCert makes a self-signed certificate, as an MX publishing DANE-EE
// uses, and returns it, its key (PEM) and the SHA-256 of its public key.
func daneCert(t *testing.T) (certPEM, keyPEM, spki string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mx.postfix.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), hex.EncodeToString(sum[:])
}

// queueList is `passerelle queue list` against the running gateway.
func queueList(t *testing.T, g *gateway) string {
	t.Helper()
	out, err := exec.Command(binary, "queue", "list", "-c", g.path).CombinedOutput()
	if err != nil {
		t.Fatalf("queue list: %v\n%s", err, out)
	}
	return string(out)
}
