package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"passerelle/bridge/keys"
	"passerelle/bridge/payload"
)

// TestAutocryptLearnedKeyEncryptsReply: bob mails alice, DKIM-signed by
// remote.example, with an Autocrypt header; alice's reply over XMPP
// reaches bob PGP/MIME encrypted to that key (GnuPG decrypts it with bob's
// secret key). A forged header, whose addr is not the From address,
// teaches nothing, nor does an unsigned mail (its sender is not verified):
// the replies to those addresses go out in the clear, as policy allows
// for remote.example.
func TestAutocryptLearnedKeyEncryptsReply(t *testing.T) {
	d := newRemoteDomain(t, "none")
	env := newReverseEnvInbound(t, fmt.Sprintf("verify = true\ndns_server = %q\ntimeout = \"5s\"", d.serveDNS(t)))
	send := func(from, autocrypt, subject string, signed bool) {
		mail := "From: " + from + "\r\nTo: alice@example.org\r\nSubject: " + subject + "\r\n" +
			"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nAutocrypt: " + autocrypt + "\r\n\r\n" + subject + "\r\n"
		file := filepath.Join(t.TempDir(), "mail.eml")
		if signed {
			file = d.sign(t, mail)
		} else if err := os.WriteFile(file, []byte(mail), 0o600); err != nil {
			t.Fatal(err)
		}
		swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+file)
		env.alice.next(t, 30*time.Second, func(m revMsg) bool { return m.OpenPGP != nil })
	}

	// The forged header first: From carol, addr dave, eve's key.
	eveKey := newUserKey(t, "eve@evil.example")
	forged, err := keys.AutocryptHeader("dave@remote.example", eveKey, true)
	if err != nil {
		t.Fatal(err)
	}
	send("carol@remote.example", forged, "forged", true)
	// Unsigned: frank's From is not verified, so his header teaches nothing.
	frankKey := newUserKey(t, "frank@remote.example")
	unsigned, err := keys.AutocryptHeader("frank@remote.example", frankKey, true)
	if err != nil {
		t.Fatal(err)
	}
	send("frank@remote.example", unsigned, "unsigned", false)

	bobKey := newUserKey(t, "bob@remote.example")
	header, err := keys.AutocryptHeader("bob@remote.example", bobKey, true)
	if err != nil {
		t.Fatal(err)
	}
	send("bob@remote.example", header, "hello from bob", true)
	if !env.gw.logContains("autocrypt key learned") || !env.gw.logContains("autocrypt header for another address ignored") ||
		!env.gw.logContains("autocrypt not learned: sender not verified") {
		env.gw.dumpLog(40)
		t.Fatal("the gateway log does not show the key learned, the forged header ignored and the unverified one not learned")
	}

	bob := puppetOf(env, "bob@remote.example")
	m := marker("autocrypt")
	env.alice.send(t, bob, "a1", append(env.sealTo(t, bob, &payload.Payload{Subject: "Re " + m, Body: "reply " + m}),
		receiptRequest()...)...)
	if r := env.alice.reply(t, "a1"); r.Received == nil {
		t.Fatalf("reply refused: %s %q", r.condition(), r.Error.Text)
	}
	c := env.sink.waitRcpt(t, "bob@remote.example", 30*time.Second)
	if strings.Contains(c.message, m) {
		t.Fatalf("the marker travels in the clear:\n%s", c.message)
	}
	if !strings.Contains(c.header("Content-Type"), "multipart/encrypted") {
		t.Fatalf("not PGP/MIME: Content-Type %q", c.header("Content-Type"))
	}
	plain, _ := gpgDecrypt(t, c.armored(t), bobKey, gatewayDomainKey(t, env.gw))
	if !strings.Contains(plain, "reply "+m) || !strings.Contains(plain, "Subject: Re "+m) {
		t.Errorf("decrypted part lacks the body or the protected Subject:\n%s", plain)
	}

	for _, addr := range []string{"dave@remote.example", "carol@remote.example", "frank@remote.example"} {
		puppet := puppetOf(env, addr)
		m := marker("forged")
		env.alice.send(t, puppet, m, append(env.sealTo(t, puppet, &payload.Payload{Body: "to " + m}), receiptRequest()...)...)
		if r := env.alice.reply(t, m); r.Received == nil {
			t.Fatalf("%s: refused: %s %q", addr, r.condition(), r.Error.Text)
		}
		c := env.sink.wait(t, "to "+m, 30*time.Second)
		if strings.Contains(c.header("Content-Type"), "multipart/encrypted") {
			t.Errorf("%s: encrypted to a key nobody published for it", addr)
		}
	}
}

// waitRcpt returns the first capture whose envelope recipient is rcpt.
func (s *sink) waitRcpt(t *testing.T, rcpt string, d time.Duration) captured {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, c := range s.all() {
			if strings.Contains(c.meta, "X-Rcpt-Args: <"+rcpt+">") {
				time.Sleep(100 * time.Millisecond) // let smtp-sink finish the file
				for _, c := range s.all() {
					if strings.Contains(c.meta, "X-Rcpt-Args: <"+rcpt+">") {
						return c
					}
				}
			}
		}
	}
	t.Fatalf("smtp-sink received nothing for %s within %v", rcpt, d)
	return captured{}
}
