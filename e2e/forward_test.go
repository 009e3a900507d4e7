package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
	"passerelle/internal/gpgtest"
)

// forwardEnv is the XMPP server (Prosody, or ejabberd: startXMPP), a
// gateway connected to it as its component, and alice, a user with a
// pinned OpenPGP key.
type forwardEnv struct {
	srv      *xmppServer
	gw       *gateway
	aliceKey *openpgp.Entity
	alice    *inbox
}

// newForwardEnv starts the XMPP server and a gateway. Alice publishes her key over
// PEP as an OX client does (XEP-0373 §4.1, access model open) when viaPEP,
// else the operator pins it with `passerelle keys import`.
func newForwardEnv(t *testing.T, viaPEP bool) *forwardEnv {
	t.Helper()
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw", "carol": "carol-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain})
	ctx := ctxT(t, 2*time.Minute)
	env := &forwardEnv{srv: srv, gw: gw, alice: newInbox(ctx, t, srv, "alice", "alice-pw")}
	if viaPEP {
		env.aliceKey = newUserKey(t, "xmpp:alice@"+srv.Domain)
		if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: env.alice.sess}, env.aliceKey, "open"); err != nil {
			t.Fatalf("alice publishes her key: %v", err)
		}
	} else {
		env.aliceKey = newUserKey(t, "alice@"+srv.Domain)
		importKey(t, gw, env.aliceKey)
	}
	return env
}

// puppetKeyViaPEP fetches a puppet's public key from the component over
// XEP-0373 PEP, as alice's OX client does to verify what it receives.
func (env *forwardEnv) puppetKeyViaPEP(t *testing.T, puppetJID string) *openpgp.Entity {
	t.Helper()
	src := pep.NewSource(pep.SourceConfig{Client: pep.ClientQuerier{Session: env.alice.sess},
		JIDOf: func(string) (jid.JID, error) { return jid.Parse(puppetJID) }})
	e, err := src.Lookup(ctxT(t, 30*time.Second), puppetJID)
	if err != nil {
		t.Fatalf("fetch the puppet key %s over PEP: %v", puppetJID, err)
	}
	return e
}

// newUserKey makes a v4 Ed25519/Cv25519 key as an OX client would, with
// uid as its only user ID ("xmpp:alice@example.org" or a bare address).
func newUserKey(t testing.TB, uid string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(uid, "", "", keys.GenConfig(time.Now(), rand.Reader))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// importKey pins e's public key with `passerelle keys import`.
func importKey(t testing.TB, g *gateway, e *openpgp.Entity) {
	t.Helper()
	armored, err := keys.ArmorPublic(e)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "keys", "import", "-c", g.path)
	cmd.Stdin = bytes.NewReader(armored)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keys import: %v\n%s", err, out)
	}
}

// swaks sends a message with swaks and returns its transcript; wantOK says
// whether swaks must succeed.
func swaks(t testing.TB, addr, to string, wantOK bool, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err != nil {
		t.Fatalf("swaks is not installed: run `make deps`: %v", err)
	}
	// --timeout: swaks waits 30 s by default; RFC 5321 §4.5.3.2.6 gives the
	// server 10 minutes after the final dot, and a 25 MB mail sealed and
	// uploaded under -race on a loaded 2-core machine can take longer than 30 s.
	all := append([]string{"--server", addr, "--from", "bob@remote.example", "--to", to, "--helo", "client.remote.example", "--timeout", "300"}, args...)
	out, err := exec.Command(path, all...).CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("swaks %v: err=%v, want ok=%v\n%s", args, err, wantOK, out)
	}
	return string(out)
}

// openOX decrypts a received OX message as alice's client would, verifying
// the signature against the puppet key.
func openOX(t *testing.T, m received, alice, puppet *openpgp.Entity) *payload.Payload {
	t.Helper()
	if m.OpenPGP == nil {
		t.Fatalf("message has no <openpgp/> element; body: %.300s", m.Body)
	}
	ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{alice}, Senders: openpgp.EntityList{puppet},
		Recipient: "alice@example.org"})
	if err != nil {
		t.Fatalf("ox.Open: %v", err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	return p
}

func TestForwardSwaksToOXClient(t *testing.T) {
	env := newForwardEnv(t, true)
	marker := fmt.Sprintf("marker-%x", time.Now().UnixNano())
	mail := "From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\n" +
		"Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Grüße aus Köln ✓")) + "?=\r\n" +
		"Message-ID: <" + marker + "@remote.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><body><p>Hello <b>Alice</b>, " + marker + "</p><img src=\"https://tracker.example/x.png\"></body></html>"
	file := filepath.Join(t.TempDir(), "mail.eml")
	if err := os.WriteFile(file, []byte(mail), 0o600); err != nil {
		t.Fatal(err)
	}
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+file)

	m := env.alice.next(t, 30*time.Second)
	wantFrom := `bob\40remote.example@` + env.srv.Component
	if !strings.HasPrefix(m.From, wantFrom) {
		t.Errorf("from = %q, want %q", m.From, wantFrom)
	}
	if m.EME == nil || m.EME.Namespace != ox.NS || m.Store == nil || m.OriginID == nil || m.OriginID.ID == "" {
		t.Errorf("missing hints outside the encryption: eme=%v store=%v origin-id=%v", m.EME, m.Store, m.OriginID)
	}
	if strings.Contains(m.Body, marker) || strings.Contains(m.OpenPGP.Data, marker) {
		t.Errorf("the marker travels in the clear")
	}
	p := openOX(t, m, env.aliceKey, env.puppetKeyViaPEP(t, wantFrom))
	if p.Subject != "Grüße aus Köln ✓" {
		t.Errorf("subject = %q", p.Subject)
	}
	if !strings.Contains(p.Body, "Hello Alice, "+marker) || strings.Contains(p.Body, "tracker.example") {
		t.Errorf("text rendition = %q", p.Body)
	}
	// swaks ends DATA with CRLF . CRLF after the file's last line, so the
	// message as sent is the file plus one CRLF.
	if p.Mail == nil || !bytes.HasSuffix(p.Mail.Raw, []byte(mail+"\r\n")) || !bytes.HasPrefix(p.Mail.Raw, []byte(unverifiedTrace)) {
		t.Errorf("<mail> is not the message sent plus our Authentication-Results and Received header:\n%q", p.Mail.Raw)
	}
}

// unverifiedTrace starts every mail forwarded with inbound.verify = false
// (the harness default): nothing was verified, and the field says so.
const unverifiedTrace = "Authentication-Results: mx.example.org; none\r\nReceived: "

func TestForwardNoKeyIsRefusedAtRcpt(t *testing.T) {
	env := newForwardEnv(t, false)
	out := swaks(t, env.gw.cfg.MXAddr, "carol@example.org", false, "--body", "hello")
	if !strings.Contains(out, "<** 550 5.7.1") {
		t.Fatalf("want 550 5.7.1 at RCPT for a recipient without a key:\n%s", out)
	}
	env.alice.none(t, time.Second)
}

// gpgDecrypt decrypts a raw or armored OpenPGP message with GnuPG in a
// fresh home holding the recipient's secret key and the signer's public key,
// and returns the plaintext and gpg's status lines.
func gpgDecrypt(t *testing.T, ct []byte, recipient, signer *openpgp.Entity) (plain, status string) {
	t.Helper()
	g := gpgtest.New(t)
	g.Import(recipient, true)
	g.Import(signer, false)
	out, st := g.Run(ct, "--decrypt")
	return string(out), st
}

func TestForwardGnuPGReadsWhatWeSend(t *testing.T) {
	env := newForwardEnv(t, false)
	marker := fmt.Sprintf("gpg-marker-%x", time.Now().UnixNano())
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--header", "Subject: interop", "--body", marker)
	m := env.alice.next(t, 30*time.Second)
	ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
	if err != nil {
		t.Fatal(err)
	}
	puppet := env.puppetKeyViaPEP(t, `bob\40remote.example@`+env.srv.Component)
	plain, status := gpgDecrypt(t, ct, env.aliceKey, puppet)
	if !strings.Contains(status, "[GNUPG:] GOODSIG") || !strings.Contains(status, string(keys.FingerprintOf(puppet))) {
		t.Errorf("gpg did not report a good signature by the puppet key %s:\n%s", keys.FingerprintOf(puppet), status)
	}
	if !strings.Contains(status, "DECRYPTION_OKAY") || !strings.Contains(status, "GOODMDC") {
		t.Errorf("gpg did not report integrity-protected decryption:\n%s", status)
	}
	if !strings.HasPrefix(plain, "<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/>") {
		t.Errorf("plaintext is not a signcrypt for alice: %.200s", plain)
	}
	p, err := payload.ParseInner([]byte(plain[strings.Index(plain, "<payload>")+len("<payload>"):strings.LastIndex(plain, "</payload>")]), payload.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Body, marker) || !bytes.Contains(p.Mail.Raw, []byte(marker)) {
		t.Errorf("gpg's plaintext lacks the marker: %q", p.Body)
	}
}

// TestForwardSurvivesServerOutage stops the XMPP server while mail is
// queued: the gateway keeps accepting, the spool holds only ciphertext, and
// everything arrives once the server is back.
func TestForwardSurvivesServerOutage(t *testing.T) {
	env := newForwardEnv(t, false)
	if err := env.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	const n = 5
	markers := map[string]bool{}
	for i := 0; i < n; i++ {
		marker := fmt.Sprintf("outage-%d-%x", i, time.Now().UnixNano())
		markers[marker] = false
		swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--header", "Subject: queued "+marker, "--body", marker)
	}
	spool := filepath.Join(env.gw.cfg.Dir, "spool")
	for marker := range markers {
		if out, _ := exec.Command("grep", "-rl", marker, spool).Output(); len(out) > 0 {
			t.Errorf("plaintext %q found in the spool: %s", marker, out)
		}
	}
	env.srv.Restart()
	env.alice = newInbox(ctxT(t, time.Minute), t, env.srv, "alice", "alice-pw")
	alice := env.alice
	var puppet *openpgp.Entity
	seen := map[string]bool{}
	for got := 0; got < n; {
		m := alice.next(t, 60*time.Second)
		if puppet == nil { // the component is back: it just delivered
			puppet = env.puppetKeyViaPEP(t, `bob\40remote.example@`+env.srv.Component)
		}
		if seen[m.OriginID.ID] {
			continue // a message in flight at the stop may come twice, with the same origin-id
		}
		seen[m.OriginID.ID] = true
		p := openOX(t, m, env.aliceKey, puppet)
		for marker := range markers {
			if strings.Contains(p.Body, marker) {
				markers[marker] = true
			}
		}
		got++
	}
	for marker, ok := range markers {
		if !ok {
			t.Errorf("message %s never arrived", marker)
		}
	}
}

// TestForwardDirectory delivers mail for an address the directory assigns
// to a JID spelled differently, with the key that JID published over PEP.
func TestForwardDirectory(t *testing.T) {
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"carol": "carol-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		Extra: "[directory]\n\"dora@example.org\" = \"carol@example.org\"\n"})
	ctx := ctxT(t, 2*time.Minute)
	carol := newInbox(ctx, t, srv, "carol", "carol-pw")
	key := newUserKey(t, "xmpp:carol@"+srv.Domain)
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: carol.sess}, key, "open"); err != nil {
		t.Fatal(err)
	}
	swaks(t, gw.cfg.MXAddr, "dora@example.org", true, "--header", "Subject: for dora", "--body", "read by carol")
	m := carol.next(t, 30*time.Second)
	env := &forwardEnv{srv: srv, gw: gw, alice: carol}
	ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{key},
		Senders:   openpgp.EntityList{env.puppetKeyViaPEP(t, `bob\40remote.example@`+srv.Component)},
		Recipient: "carol@example.org"})
	if err != nil {
		t.Fatalf("carol cannot open mail for dora: %v", err)
	}
	if !strings.Contains(string(sc.Payload), "read by carol") {
		t.Fatalf("payload: %.300s", sc.Payload)
	}
}

// TestForwardToOfflineUser: mail for alice while she has no session is
// delivered all the same (the server acknowledges it and its offline
// storage keeps it: mod_offline, Prosody's offline), and her client gets
// it, intact, when she logs in.
func TestForwardToOfflineUser(t *testing.T) {
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain})
	key := newUserKey(t, "alice@"+srv.Domain)
	importKey(t, gw, key)
	m := marker("offline")
	swaks(t, gw.cfg.MXAddr, "alice@example.org", true, "--header", "Subject: while away", "--body", "stored "+m)
	for deadline := time.Now().Add(30 * time.Second); !gw.logContains(`"msg":"delivered"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not deliver to the server within 30s while alice was offline")
		}
	}
	env := &forwardEnv{srv: srv, gw: gw, aliceKey: key, alice: newInbox(ctxT(t, time.Minute), t, srv, "alice", "alice-pw")}
	got := env.alice.next(t, 30*time.Second)
	p := openOX(t, got, key, env.puppetKeyViaPEP(t, `bob\40remote.example@`+srv.Component))
	if p.Subject != "while away" || !strings.Contains(p.Body, "stored "+m) {
		t.Fatalf("offline message: subject %q body %q", p.Subject, p.Body)
	}
	env.alice.none(t, time.Second)
}
