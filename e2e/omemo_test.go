package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"mime/quotedprintable"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"passerelle/internal/omemotest"
	"passerelle/internal/prosodytest"
)

// TestForwardOMEMOToPythonOMEMO: alice runs an OMEMO client that is not
// ours (python3-omemo + python3-oldmemo on slixmpp) and publishes no OX
// key; a mail with a unicode subject and a 2 MB attachment, sent with
// swaks, reaches her client over OMEMO 0.3: it decrypts the text (From and
// Subject at the top), and the aesgcm:// link in it opens the original,
// byte-identical to what swaks sent. The spool and the XMPP server's data hold no
// plaintext marker.
func TestForwardOMEMOToPythonOMEMO(t *testing.T) {
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, Upload: true, UploadSizeLimit: 64 << 20})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent)})
	ctx := ctxT(t, 3*time.Minute)
	alice := omemotest.Start(ctx, t, omemotest.Config{JID: "alice@" + srv.Domain, Password: "alice-pw",
		C2SAddr: srv.C2SAddr, CAFile: srv.CAFile, State: filepath.Join(t.TempDir(), "alice.json")})

	m := marker("omemo")
	subject := "Réunion 📅 " + m
	blob := make([]byte, 2<<20)
	rand.Read(blob)
	mail := "From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\n" +
		"Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(subject)) + "?=\r\n" +
		"Message-ID: <" + m + "@remote.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nvoir la pièce jointe " + m + "\r\n--b1\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + wrap76(base64.StdEncoding.EncodeToString(blob)) + "--b1--\r\n"
	file := filepath.Join(t.TempDir(), "mail.eml")
	if err := os.WriteFile(file, []byte(mail), 0o600); err != nil {
		t.Fatal(err)
	}
	swaks(t, gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+file)

	ev, err := alice.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Error != "" || ev.From != `bob\40remote.example@`+srv.Component {
		t.Fatalf("client event %+v", ev)
	}
	if !strings.HasPrefix(ev.Body, "From: Bob <bob@remote.example>\nSubject: "+subject+"\n") ||
		!strings.Contains(ev.Body, "voir la pièce jointe "+m) {
		t.Fatalf("decrypted body:\n%s", ev.Body)
	}
	link := ev.Body[strings.Index(ev.Body, "aesgcm://"):]
	link, _, _ = strings.Cut(link, " ")
	url := "http://" + strings.TrimPrefix(strings.SplitN(link, "#", 2)[0], "aesgcm://")
	raw := openAESGCMLink(t, ev.Body, url, fetchBlob(t, url))
	if !bytes.HasSuffix(raw, []byte(mail+"\r\n")) {
		t.Fatalf("the .eml behind the aesgcm:// link (%d bytes) is not the mail sent (%d bytes)", len(raw), len(mail))
	}
	// The attachment has a link of its own, named after its type.
	i := strings.Index(ev.Body, "[Attachment data.bin (")
	if i < 0 {
		t.Fatalf("no attachment link in:\n%s", ev.Body)
	}
	alink := ev.Body[i+strings.Index(ev.Body[i:], "aesgcm://"):]
	alink, _, _ = strings.Cut(alink, " ")
	aurl := "http://" + strings.TrimPrefix(strings.SplitN(alink, "#", 2)[0], "aesgcm://")
	if !strings.HasSuffix(aurl, ".bin") {
		t.Errorf("attachment URL %s does not end in .bin", aurl)
	}
	if got := openAESGCMLink(t, alink, aurl, fetchBlob(t, aurl)); !bytes.Equal(got, blob) {
		t.Fatalf("the attachment behind its aesgcm:// link (%d bytes) is not the one sent (%d bytes)", len(got), len(blob))
	}
	t.Logf("OMEMO body %d bytes decrypted by python-omemo; original %d bytes and the %d-byte attachment through their aesgcm links, byte-identical", len(ev.Body), len(raw), len(blob))
	// The first message shows the puppet device's fingerprint, the one
	// `keys lookup` prints for the sender.
	out, err := exec.Command(binary, "keys", "lookup", "-c", gw.path, "bob@remote.example").CombinedOutput()
	fp := ""
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "omemo fingerprint: "); ok {
			fp = v
		}
	}
	if fp == "" || !strings.Contains(string(out), fmt.Sprintf("omemo device: %d", ev.SID)) {
		t.Fatalf("keys lookup: %v\n%s", err, out)
	}
	if !strings.Contains(ev.Body, "OMEMO device fingerprint is "+fp) {
		t.Errorf("the first message does not show the fingerprint %s", fp)
	}

	for _, dir := range []string{filepath.Join(gw.cfg.Dir, "spool"), srv.Dir} {
		noMarker(t, dir, m)
	}

	// alice adds a second device (its own state: a new device id in her
	// device list): the next mail is readable on both.
	phone := omemotest.Start(ctx, t, omemotest.Config{JID: "alice@" + srv.Domain, Password: "alice-pw",
		C2SAddr: srv.C2SAddr, CAFile: srv.CAFile, State: filepath.Join(t.TempDir(), "phone.json")})
	if phone.DeviceID == alice.DeviceID {
		t.Fatal("the second client is the same device")
	}
	m2 := marker("omemo2")
	swaks(t, gw.cfg.MXAddr, "alice@example.org", true, "--header", "Subject: "+m2, "--body", "second device "+m2)
	for name, c := range map[string]*omemotest.Client{"first device": alice, "second device": phone} {
		ev, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev.Error != "" || !strings.Contains(ev.Body, "second device "+m2) {
			t.Fatalf("%s: %+v", name, ev)
		}
	}
}

// noMarker fails if any file under dir contains marker.
func noMarker(t *testing.T, dir, marker string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".log") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // sockets, vanished temp files
		}
		n++
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("plaintext marker in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d files, no marker", dir, n)
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

// TestReverseOMEMOFromPythonOMEMO: alice's OMEMO client (python3-omemo)
// writes to a puppet JID over OMEMO 0.3: it fetches the puppet's device
// list and bundle from the component and encrypts to it; the gateway
// decrypts and mails the text, From alice and DKIM-signed, to smtp-sink.
func TestReverseOMEMOFromPythonOMEMO(t *testing.T) {
	env := newReverseEnv(t)
	ctx := ctxT(t, 2*time.Minute)
	alice := omemotest.Start(ctx, t, omemotest.Config{JID: "alice@" + env.srv.Domain, Password: "alice-pw",
		C2SAddr: env.srv.C2SAddr, CAFile: env.srv.CAFile, State: filepath.Join(t.TempDir(), "alice.json")})
	bob := puppetOf(env, "bob@remote.example")
	m := marker("omemo-reply")
	if err := alice.Send(bob, "Réponse chiffrée ✓ "+m); err != nil {
		t.Fatal(err)
	}
	if ev, err := alice.Next(ctx); err != nil || ev.Sent == "" {
		t.Fatalf("client send: %+v %v", ev, err)
	}
	c := env.sink.wait(t, m, 60*time.Second)
	if got := addrOf(c.header("From")); got != "alice@example.org" {
		t.Errorf("From = %q", got)
	}
	body := c.body()
	if strings.EqualFold(c.header("Content-Transfer-Encoding"), "quoted-printable") {
		b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if !strings.Contains(body, "Réponse chiffrée ✓ "+m) {
		t.Errorf("body %q", body)
	}
	if !strings.Contains(c.meta, "X-Rcpt-Args: <bob@remote.example>") {
		t.Errorf("envelope:\n%s", c.meta)
	}
	env.verifyDKIM(t, c)
	if n := env.sink.count(); n != 1 {
		t.Errorf("%d mails at the sink, want 1", n)
	}
}

// TestOXAndOMEMOPerPolicy: alice and carol both publish an OX key (pinned
// here) and run an OMEMO client. Under the default prefer-ox alice's mail
// comes as OX; carol's address rule says prefer-omemo, and her OMEMO
// client decrypts hers. `policy explain` names the rule.
func TestOXAndOMEMOPerPolicy(t *testing.T) {
	users := map[string]string{"alice": "alice-pw", "carol": "carol-pw"}
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		Extra: "[policy.addresses.\"carol@example.org\"]\nxmpp_encryption = \"prefer-omemo\"\n"})
	ctx := ctxT(t, 2*time.Minute)
	for u := range users {
		importKey(t, gw, newUserKey(t, u+"@"+srv.Domain))
	}
	aliceOX := newInbox(ctx, t, srv, "alice", "alice-pw")
	omemoClient := func(u string) *omemotest.Client {
		return omemotest.Start(ctx, t, omemotest.Config{JID: u + "@" + srv.Domain, Password: users[u],
			C2SAddr: srv.C2SAddr, CAFile: srv.CAFile, State: filepath.Join(t.TempDir(), u+".json")})
	}
	omemoClient("alice")
	carol := omemoClient("carol")

	m := marker("policy")
	swaks(t, gw.cfg.MXAddr, "alice@example.org", true, "--header", "Subject: "+m, "--body", "to alice "+m)
	if got := aliceOX.next(t, 30*time.Second); got.OpenPGP == nil {
		t.Fatalf("alice (prefer-ox, both published) did not get OX: %+v", got)
	}
	swaks(t, gw.cfg.MXAddr, "carol@example.org", true, "--header", "Subject: "+m, "--body", "to carol "+m)
	ev, err := carol.Next(ctx)
	if err != nil || ev.Error != "" || !strings.Contains(ev.Body, "to carol "+m) {
		t.Fatalf("carol (prefer-omemo) over OMEMO: %+v %v", ev, err)
	}
	out, err := exec.Command(binary, "policy", "explain", "-c", gw.path, "carol@example.org").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "prefer-omemo") || !strings.Contains(string(out), "address carol@example.org") {
		t.Fatalf("policy explain: %v\n%s", err, out)
	}
}

// TestOMEMOCrashLosesNothing: the gateway is SIGKILLed twice while it
// accepts and delivers 200 OMEMO mails to alice's python3-omemo client;
// every mail that got 250 is decrypted by the client afterwards (each
// counted by its subject), none lost, no decryption error: the session
// state each message advanced was durable before its 250.
func TestOMEMOCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("200 mails with two SIGKILLs; run without -short")
	}
	const total = 200
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"alice": "alice-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain})
	ctx := ctxT(t, 5*time.Minute)
	alice := omemotest.Start(ctx, t, omemotest.Config{JID: "alice@" + srv.Domain, Password: "alice-pw",
		C2SAddr: srv.C2SAddr, CAFile: srv.CAFile, State: filepath.Join(t.TempDir(), "alice.json")})

	accepted := map[string]bool{}
	refused := 0
	for i := 0; len(accepted) < total; i++ {
		if i > 3*total {
			t.Fatalf("only %d of %d mails accepted", len(accepted), total)
		}
		if len(accepted) == 80 || len(accepted) == 150 {
			gw.stop(syscall.SIGKILL) // deliveries of the last ones are in flight
			gw.start()
		}
		subj := fmt.Sprintf("crash-%03d", i)
		if err := sendSMTP(gw.cfg.MXAddr, "bob@remote.example", "alice@example.org",
			"From: bob@remote.example\r\nTo: alice@example.org\r\nSubject: "+subj+"\r\n\r\nbody "+subj+"\r\n"); err != nil {
			refused++
			continue
		}
		accepted[subj] = true
	}
	got := map[string]bool{}
	dups := 0
	for len(got) < len(accepted) {
		ev, err := alice.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d mails: %v", len(got), len(accepted), err)
		}
		switch {
		case ev.Duplicate != "":
			dups++
		case ev.Error != "":
			t.Fatalf("the client could not decrypt a mail: %s", ev.Error)
		default:
			i := strings.Index(ev.Body, "Subject: crash-")
			if i < 0 {
				t.Fatalf("unexpected body %q", ev.Body)
			}
			got[ev.Body[i+len("Subject: "):i+len("Subject: crash-000")]] = true
		}
	}
	for s := range accepted {
		if !got[s] {
			t.Errorf("%s got 250 but never reached the client", s)
		}
	}
	t.Logf("OMEMO crash test: 2 SIGKILLs, %d accepted, %d decrypted by the client, %d redelivered copies dropped by stanza id, %d refused while down",
		len(accepted), len(got), dups, refused)
}

// sendSMTP sends one message over plain SMTP; any failure is an error.
func sendSMTP(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
