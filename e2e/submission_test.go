package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const submissionExtra = `
[smtp.submission]
listen = "%s"
[[smtp.submission.users]]
name = "carol@example.org"
password_hash = "%s"
[tls]
cert_file = "%s"
key_file = "%s"
`

// TestSubmissionFromBinding drives the submission listener as a mail
// client does (STARTTLS, AUTH PLAIN): carol may send as carol only. A forged MAIL FROM
// gets 550 5.7.1 at MAIL, a forged header From 550 5.7.1 at end of DATA
// (and its Autocrypt header teaches nothing); her own mail reaches alice's
// OX client signed by carol's puppet, with auth=pass smtp.auth=carol.
func TestSubmissionFromBinding(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := filepath.Abs("../testdata/configs/example-cert.pem")
	key, _ := filepath.Abs("../testdata/configs/example-key.pem")
	subAddr := freePort(t)
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		Extra: fmt.Sprintf(submissionExtra, subAddr, string(hash), cert, key)})
	env := &forwardEnv{srv: srv, gw: gw, alice: newInbox(ctxT(t, 2*time.Minute), t, srv, "alice", "alice-pw")}
	env.aliceKey = newUserKey(t, "alice@"+srv.Domain)
	importKey(t, gw, env.aliceKey)

	// swaks here has no TLS (Net::SSLeay): Go's net/smtp is the client.
	submit := func(from, mail string) error {
		t.Helper()
		c, err := smtp.Dial(subAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
		if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { // the throwaway example certificate
			t.Fatal(err)
		}
		if err := c.Auth(smtp.PlainAuth("", "carol@example.org", "carol-pw", "127.0.0.1")); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail(from); err != nil {
			return fmt.Errorf("MAIL: %w", err)
		}
		if err := c.Rcpt("alice@example.org"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, mail); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		return c.Quit()
	}
	mail := func(from, subject string) string {
		return "From: " + from + "\r\nTo: alice@example.org\r\nSubject: " + subject + "\r\n" +
			"Autocrypt: addr=" + from + "; keydata=AAAA\r\n\r\nhello " + subject + "\r\n"
	}
	refused := func(err error, stage, text string) bool {
		var te *textproto.Error
		return errors.As(err, &te) && strings.HasPrefix(err.Error(), stage+":") && te.Code == 550 &&
			strings.HasPrefix(te.Msg, "5.7.1 "+text)
	}
	if err := submit("ceo@bank.example", mail("ceo@bank.example", "forged envelope")); !refused(err, "MAIL", "Sender address not owned") {
		t.Fatalf("forged MAIL FROM: %v, want 550 5.7.1 at MAIL", err)
	}
	if err := submit("carol@example.org", mail("ceo@bank.example", "forged header")); !refused(err, "DATA", "From header address not owned") {
		t.Fatalf("forged header From: %v, want 550 5.7.1 at end of DATA", err)
	}
	m := marker("submitted")
	if err := submit("carol@example.org", mail("Carol <carol@example.org>", m)); err != nil {
		t.Fatalf("carol's own mail: %v", err)
	}
	got := env.alice.next(t, 30*time.Second)
	p := openOX(t, got, env.aliceKey, env.puppetKeyViaPEP(t, `carol\40example.org@`+srv.Component))
	if p.Subject != m || p.Mail == nil || strings.HasPrefix(p.Body, "⚠") {
		t.Fatalf("subject %q, body %q", p.Subject, p.Body)
	}
	if head := string(p.Mail.Raw); !strings.HasPrefix(head, "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=carol@example.org\r\nReceived: ") {
		t.Errorf("no auth=pass result for carol:\n%.300s", head)
	}
	if gw.logContains("autocrypt key learned") {
		t.Error("a submitted mail taught an Autocrypt key")
	}
}
