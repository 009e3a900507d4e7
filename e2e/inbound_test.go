package e2e

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"passerelle/gateway/dkim"
	"passerelle/internal/dnstest"
)

// unverifiedLine starts the text of mail whose sender was not verified.
const unverifiedLine = "⚠ Warning: the sender address bob@remote.example could not be verified."

// remoteDomain is remote.example's DNS and DKIM key: an Ed25519 key under
// selector "e2e", and a DMARC record with policy p.
type remoteDomain struct {
	key  crypto.Signer
	zone map[string]string
}

func newRemoteDomain(t *testing.T, p string) *remoteDomain {
	t.Helper()
	key, err := dkim.GenerateKey(dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.DNSRecord("e2e", "remote.example", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(rec, -1) {
		txt.WriteString(m[1])
	}
	return &remoteDomain{key: key, zone: map[string]string{
		"e2e._domainkey.remote.example": txt.String(),
		"_dmarc.remote.example":         "v=DMARC1; p=" + p,
	}}
}

// serveDNS serves d's zone (TXT records) from a test DNS server and returns
// its address.
func (d *remoteDomain) serveDNS(t *testing.T) string {
	t.Helper()
	srv := dnstest.Start(t)
	for name, txt := range d.zone {
		srv.SetTXT(name, txt)
	}
	return srv.Addr
}

// sign returns mail with remote.example's DKIM signature, written to a file
// for swaks --data.
func (d *remoteDomain) sign(t *testing.T, mail string) string {
	t.Helper()
	s, err := dkim.New(dkim.Config{Domains: []dkim.DomainConfig{{Domain: "remote.example", Selector: "e2e", Key: d.key}}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.Sign("remote.example", strings.NewReader(mail), &b); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "signed.eml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// newInboundEnv is newForwardEnv (alice's key pinned) with sender
// verification on, its DNS served by a local server for remote.example.
func newInboundEnv(t *testing.T, d *remoteDomain, unauthenticated string) *forwardEnv {
	t.Helper()
	dnsAddr := d.serveDNS(t)
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		Inbound: fmt.Sprintf("verify = true\nunauthenticated = %q\ndns_server = %q\ntimeout = \"5s\"", unauthenticated, dnsAddr)})
	env := &forwardEnv{srv: srv, gw: gw, alice: newInbox(ctxT(t, 2*time.Minute), t, srv, "alice", "alice-pw")}
	env.aliceKey = newUserKey(t, "alice@"+srv.Domain)
	importKey(t, gw, env.aliceKey)
	return env
}

func inboundMail(marker string) string {
	return "From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\nSubject: " + marker + "\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + marker + "@remote.example>\r\n\r\n" +
		"Hello Alice, " + marker + "\r\n"
}

// receiveText waits for alice's next message and returns its text
// rendition and the <mail> element's message, header unfolded.
func (env *forwardEnv) receiveText(t *testing.T) (text, header string) {
	t.Helper()
	m := env.alice.next(t, 30*time.Second)
	p := openOX(t, m, env.aliceKey, env.puppetKeyViaPEP(t, `bob\40remote.example@`+env.srv.Component))
	if p.Mail == nil {
		t.Fatal("no <mail> element")
	}
	head, _, _ := strings.Cut(string(p.Mail.Raw), "\r\n\r\n")
	return p.Body, strings.NewReplacer("\r\n\t", " ", "\r\n ", " ").Replace(head)
}

// TestInboundVerification: a mail DKIM-signed by remote.example arrives
// with dkim=pass and dmarc=pass at the top of <mail> and no warning; an
// unsigned mail From bob@remote.example arrives with the warning line.
func TestInboundVerification(t *testing.T) {
	d := newRemoteDomain(t, "reject")
	env := newInboundEnv(t, d, "mark")
	marker := fmt.Sprintf("signed-%x", time.Now().UnixNano())
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+d.sign(t, inboundMail(marker)))
	text, header := env.receiveText(t)
	want := regexp.MustCompile(`^Authentication-Results: mx\.example\.org; dkim=pass header\.d=remote\.example header\.s=e2e; ` +
		`dmarc=pass \(p=reject\) header\.from=remote\.example\r\nReceived: `)
	if !want.MatchString(header) {
		t.Errorf("<mail> does not start with dkim=pass, dmarc=pass:\n%s", header)
	}
	if strings.Contains(text, "could not be verified") || !strings.Contains(text, marker) {
		t.Errorf("text of a verified mail = %q", text)
	}

	marker = fmt.Sprintf("unsigned-%x", time.Now().UnixNano())
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--header", "Subject: "+marker, "--body", marker)
	text, header = env.receiveText(t)
	if first, _, _ := strings.Cut(text, "\n"); !strings.HasPrefix(first, unverifiedLine) || !strings.Contains(text, marker) {
		t.Errorf("text of an unsigned mail does not start with the warning:\n%s", text)
	}
	if !strings.HasPrefix(header, "Authentication-Results: mx.example.org; dkim=none; dmarc=fail (p=reject) header.from=remote.example\r\n") {
		t.Errorf("<mail> header:\n%s", header)
	}
}

// TestInboundRejectsDMARCFailure: with unauthenticated = "reject" and
// p=reject at remote.example, a forged mail gets 550 5.7.1 at end of DATA
// and never reaches alice, while a signed one still does.
func TestInboundRejectsDMARCFailure(t *testing.T) {
	d := newRemoteDomain(t, "reject")
	env := newInboundEnv(t, d, "reject")
	out := swaks(t, env.gw.cfg.MXAddr, "alice@example.org", false, "--header", "Subject: forged", "--body", "wire the money")
	if !strings.Contains(out, "<** 550 5.7.1") || !strings.Contains(out, "DMARC") {
		t.Fatalf("want 550 5.7.1 at end of DATA for a forged mail:\n%s", out)
	}
	file := d.sign(t, inboundMail("tampered"))
	signed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(signed), "Hello Alice", "Hello Eve", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := swaks(t, env.gw.cfg.MXAddr, "alice@example.org", false, "--data", "@"+file); !strings.Contains(out, "<** 550 5.7.1") {
		t.Fatalf("want 550 5.7.1 for a mail modified after signing:\n%s", out)
	}
	env.alice.none(t, time.Second)
	marker := fmt.Sprintf("signed-%x", time.Now().UnixNano())
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+d.sign(t, inboundMail(marker)))
	if text, _ := env.receiveText(t); !strings.Contains(text, marker) || strings.Contains(text, "could not be verified") {
		t.Errorf("text = %q", text)
	}
}
