package e2e

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	gwdkim "passerelle/gateway/dkim"
	"passerelle/internal/dnstest"
	"passerelle/internal/prosodytest"
)

// relaySites is issue 9's ground: the hub (a public Passerelle, MX of
// home.example, with a real Prosody as its XMPP server), the client (the
// home server behind a port-25 block: its only listener is loopback
// submission; it connects out to the hub's Prosody over c2s), smtp-sink as
// the internet's MX (far.example) and as the site's own MTA.
type relaySites struct {
	srv      *prosodytest.Server
	dns      *dnstest.Server
	hub      *gateway
	client   *gateway
	internet *sink // MX of far.example
	site     *sink // the home site's MTA
	dkimTXT  string
	subUser  string
	subPass  string
}

const relayClientTemplate = `hostname = "relay.home.example"
local_domains = ["home.example", "other.example"]
[log]
level = "debug"
format = "json"
[smtp]
greet_delay = "0s"
read_timeout = "30s"
write_timeout = "30s"
[smtp.submission]
listen = "%s"
[[smtp.submission.users]]
name = "mta"
password_hash = "%s"
from = ["@home.example", "@other.example"]
[tls]
cert_file = "%s"
key_file = "%s"
[spool]
dir = "spool"
workers = 4
retry_initial = "500ms"
retry_max = "2s"
lifetime = "1h"
[keys]
dir = "keys"
wkd = false
[inbound]
verify = false
[xmpp]
ack_timeout = "5s"
upload_service = "%s"
upload_allow_loopback_http = true
[egress]
allow_networks = ["127.0.0.1"]
[delivery.smarthost]
addr = "%s"
tls = "none"
[[dkim]]
domain = "home.example"
selector = "home"
key_file = "dkim.pem"
[relay]
mode = "client"
jid = "home@hub.example"
password = "%s"
server = "%s"
tls_ca = "%s"
hub = "mail.hub.example"
hub_fingerprint = "%s"
retry = "300ms"
`

// relayHubExtra is the hub's [relay] and MX delivery sections.
func relayHubExtra(d *dnstest.Server, internet *sink, clientFpr string) string {
	return fmt.Sprintf(`[egress]
allow_networks = ["127.0.0.1"]
[delivery]
port = %s
dns_server = "%s"
allow_private = true
mta_sts = false
[relay]
mode = "hub"
retry = "300ms"
[[relay.client]]
jid = "home@hub.example"
domains = ["home.example"]
fingerprint = "%s"
`, internet.addr[strings.LastIndexByte(internet.addr, ':')+1:], d.Addr, clientFpr)
}

const placeholderFpr = "0000000000000000000000000000000000000000"

func newRelaySites(t *testing.T) *relaySites {
	t.Helper()
	r := &relaySites{dns: dnstest.Start(t), internet: startSink(t), site: startSink(t), subUser: "mta", subPass: "mta-pw"}
	r.srv = prosodytest.Start(t, prosodytest.Options{Domain: "hub.example",
		Users: map[string]string{"home": "home-pw", "mallory": "mallory-pw"}, HTTPFileShare: true})
	r.dns.SetMX("far.example", 10, "mx.far.example")
	r.dns.SetA("mx.far.example", "127.0.0.1")
	r.hub = prepareGateway(t, gwConfig{ComponentAddr: r.srv.ComponentAddr, ComponentDomain: r.srv.Component,
		ComponentSecret: r.srv.ComponentSecret, Domain: "hub.example",
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", r.srv.UploadComponent),
		Extra:     relayHubExtra(r.dns, r.internet, placeholderFpr)})
	r.client = prepareGateway(t, r.clientConfig(t, t.TempDir(), "home-pw", placeholderFpr))
	// Each side pins the other's key, as the two operators would after
	// reading each other's `passerelle keys init` output.
	hubFpr, clientFpr := fingerprintOf(t, r.hub), fingerprintOf(t, r.client)
	r.hub.cfg.Extra = relayHubExtra(r.dns, r.internet, clientFpr)
	r.hub.writeConfig()
	r.client.cfg.Raw = strings.Replace(r.client.cfg.Raw, placeholderFpr, hubFpr, 1)
	r.client.writeConfig()
	r.dkimTXT = dkimRecord(t, r.client, "home", "home.example")
	r.hub.start()
	r.client.start()
	waitLog(t, r.client, "connected to the relay hub", 30*time.Second)
	return r
}

// clientConfig is a client gateway's configuration in dir.
func (r *relaySites) clientConfig(t *testing.T, dir, password, hubFpr string) gwConfig {
	t.Helper()
	cmd := exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader(r.subPass + "\n")
	hash, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	key, err := gwdkim.GenerateKey(gwdkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := gwdkim.EncodePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dkim.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := freePort(t)
	certs, _ := filepath.Abs("../testdata/configs")
	raw := fmt.Sprintf(relayClientTemplate, sub, strings.TrimSpace(string(hash)),
		filepath.Join(certs, "example-cert.pem"), filepath.Join(certs, "example-key.pem"),
		r.srv.UploadComponent, r.site.addr, password, r.srv.C2SAddr, r.srv.CAFile, hubFpr)
	return gwConfig{Dir: dir, Raw: raw, ReadyAddr: sub, MXAddr: sub}
}

func fingerprintOf(t *testing.T, g *gateway) string {
	t.Helper()
	return fmt.Sprintf("%X", domainKeyOf(t, g).PrimaryKey.Fingerprint)
}

// dkimRecord makes the client's DKIM key with `keys dkim` and returns the
// TXT record value it prints.
func dkimRecord(t *testing.T, g *gateway, selector, domain string) string {
	t.Helper()
	out, err := exec.Command(binary, "keys", "dkim", "-c", g.path, domain).CombinedOutput()
	if err != nil {
		t.Fatalf("keys dkim: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, selector+"._domainkey."+domain+". IN TXT ") {
			continue
		}
		var v strings.Builder
		for i, part := range strings.Split(line, "\"") {
			if i%2 == 1 {
				v.WriteString(part)
			}
		}
		return v.String()
	}
	t.Fatalf("keys dkim printed no record:\n%s", out)
	return ""
}

// submit sends mails to the client's submission listener as the site's
// MTA does (STARTTLS, AUTH), one transaction each, in one session.
func (r *relaySites) submit(t *testing.T, from, to string, mails []string) {
	t.Helper()
	c, err := smtp.Dial(r.client.cfg.ReadyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { // the example certificate
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", r.subUser, r.subPass, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	for i, m := range mails {
		if err := c.Mail(from); err != nil {
			t.Fatalf("MAIL %d: %v", i, err)
		}
		if err := c.Rcpt(to); err != nil {
			t.Fatalf("RCPT %d: %v", i, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(m))
		if err := w.Close(); err != nil {
			t.Fatalf("DATA %d: %v", i, err)
		}
	}
}

// toHub sends mails to the hub's MX as the internet does.
func (r *relaySites) toHub(t *testing.T, from, to string, mails []string) {
	t.Helper()
	c, err := smtp.Dial(r.hub.cfg.MXAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	for i, m := range mails {
		if err := c.Mail(from); err != nil {
			t.Fatalf("MAIL %d: %v", i, err)
		}
		if err := c.Rcpt(to); err != nil {
			t.Fatalf("RCPT %d: %v", i, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(m))
		if err := w.Close(); err != nil {
			t.Fatalf("DATA %d: %v", i, err)
		}
	}
}

func relayMail(from, to, name string, i int) (string, string) {
	m := fmt.Sprintf("%s-%04d-%x", name, i, time.Now().UnixNano())
	return m, "From: " + from + "\r\nTo: " + to + "\r\nSubject: peer " + m + "\r\n" +
		"Message-ID: <" + m + "@relay.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Body of " + m + "\r\n"
}

// largeRelayMail is relayMail with a body of about n bytes (base64-like
// lines, as an attachment would be).
func largeRelayMail(from, to, name string, n int) (string, string) {
	m, mail := relayMail(from, to, name, 0)
	var b strings.Builder
	b.WriteString(mail)
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 2) + "\r\n"
	for b.Len() < n {
		b.WriteString(line)
	}
	b.WriteString("end of " + m + "\r\n")
	return m, b.String()
}

// TestRelayMode is issue 9's "Done when": one set of sites for every case.
func TestRelayMode(t *testing.T) {
	r := newRelaySites(t)
	// The client opens no port to the outside: its only listening socket
	// is the loopback submission listener.
	if got, want := listeningSockets(t, r.client.cmd.Process.Pid), hexAddr(r.client.cfg.ReadyAddr); len(got) != 1 || got[0] != want {
		t.Errorf("the client listens on %v (hex, /proc/net/tcp), want only %s (%s)", got, want, r.client.cfg.ReadyAddr)
	}

	t.Run("inbound: internet -> hub MX -> client -> site MTA, once, intact, ciphertext only at the hub", func(t *testing.T) {
		marker, mail := relayMail("bob@far.example", "alice@home.example", "in", 0)
		swaks(t, r.hub.cfg.MXAddr, "alice@home.example", true, "--from", "bob@far.example",
			"--data", strings.ReplaceAll(strings.TrimSuffix(mail, "\r\n"), "\r\n", "\n")) // swaks ends the data with CRLF
		c := r.site.wait(t, marker, 60*time.Second)
		if got := stripTrace(c.crlf()); got != mail {
			t.Fatalf("the site's MTA got, apart from trace fields:\n%q\nwant\n%q", got, mail)
		}
		flush, fm := relayMail("bob@far.example", "alice@home.example", "in-flush", 0)
		r.toHub(t, "bob@far.example", "alice@home.example", []string{fm})
		r.site.wait(t, flush, 60*time.Second)
		if n := countMarker(r.site, marker); n != 1 {
			t.Errorf("the site's MTA got the mail %d times", n)
		}
		for _, dir := range []string{filepath.Join(r.hub.cfg.Dir, "spool"), r.srv.Dir} {
			if f := grepTree(t, dir, marker); f != "" {
				t.Errorf("plaintext marker found at the hub in %s", f)
			}
		}
	})

	t.Run("outbound: site MTA -> client submission -> hub -> recipient MX, once, DKIM of home.example", func(t *testing.T) {
		marker, mail := relayMail("alice@home.example", "carol@far.example", "out", 0)
		r.submit(t, "alice@home.example", "carol@far.example", []string{mail})
		c := r.internet.wait(t, marker, 60*time.Second)
		vs, err := msgdkim.VerifyWithOptions(strings.NewReader(c.crlf()), &msgdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if name != "home._domainkey.home.example" {
					return nil, fmt.Errorf("unexpected lookup %s", name)
				}
				return []string{r.dkimTXT}, nil
			}})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "home.example" {
			t.Fatalf("DKIM does not verify: err=%v verifications=%+v", err, vs)
		}
		if f := grepTree(t, r.srv.Dir, marker); f != "" {
			t.Errorf("plaintext marker found in Prosody's data: %s", f)
		}
		if n := countMarker(r.internet, marker); n != 1 {
			t.Errorf("the recipient's MX got the mail %d times", n)
		}
	})

	t.Run("large mail both ways over the hub server's upload service, intact, ciphertext only at the hub", func(t *testing.T) {
		in, inMail := largeRelayMail("bob@far.example", "alice@home.example", "large-in", 3<<20)
		r.toHub(t, "bob@far.example", "alice@home.example", []string{inMail})
		if got := stripTrace(r.site.wait(t, "end of "+in, 120*time.Second).crlf()); got != inMail { // its last line: all written
			t.Errorf("the site's MTA got %d bytes apart from trace fields, not the %d sent", len(got), len(inMail))
		}
		out, outMail := largeRelayMail("alice@home.example", "carol@far.example", "large-out", 3<<20)
		r.submit(t, "alice@home.example", "carol@far.example", []string{outMail})
		got := stripTrace(r.internet.wait(t, "end of "+out, 120*time.Second).crlf())
		if !strings.HasSuffix(got, outMail) { // after the client's DKIM-Signature
			t.Errorf("the recipient's MX got %d bytes, not the %d sent after a signature", len(got), len(outMail))
		}
		// Inbound mail is sealed to the client before the hub spools it;
		// outbound mail the hub keeps as the message it delivers (it speaks
		// it in plaintext SMTP anyway). Both blobs on the server are
		// ciphertext.
		for _, dir := range []string{filepath.Join(r.hub.cfg.Dir, "spool"), r.srv.Dir} {
			if f := grepTree(t, dir, in); f != "" {
				t.Errorf("plaintext of the inbound mail found at the hub in %s", f)
			}
		}
		if f := grepTree(t, r.srv.Dir, out); f != "" {
			t.Errorf("plaintext of the outbound mail found in the hub server's data (its upload store) in %s", f)
		}
		if !r.hub.logContains("large mail for a relay client: uploaded") || !r.client.logContains("large mail for the hub: uploaded") {
			t.Error("neither side logged an upload: the mail did not take the upload path")
		}
	})

	t.Run("refusals: a domain the client does not hold; wrong credentials; not a relay client; the hub's DSN comes back", func(t *testing.T) {
		testRelayRefusals(t, r)
	})

	t.Run("client SIGKILLed under inbound load, then down while mail queues at the hub", func(t *testing.T) {
		testRelayOutage(t, r, "kill-client", 200, r.site, r.client,
			func(mails []string) { r.toHub(t, "bob@far.example", "alice@home.example", mails) },
			"bob@far.example", "alice@home.example", r.hub, "relay client home@hub.example")
	})

	t.Run("hub SIGKILLed under outbound load", func(t *testing.T) {
		testRelayOutage(t, r, "kill-hub", 200, r.internet, r.hub,
			func(mails []string) { r.submit(t, "alice@home.example", "carol@far.example", mails) },
			"alice@home.example", "carol@far.example", r.client, "relay hub mail.hub.example")
		// The client's session outlived the hub's restart: inbound mail
		// still reaches it.
		marker, mail := relayMail("bob@far.example", "alice@home.example", "after-hub-restart", 0)
		r.toHub(t, "bob@far.example", "alice@home.example", []string{mail})
		r.site.wait(t, marker, 60*time.Second)
	})
}

func testRelayRefusals(t *testing.T, r *relaySites) {
	// other.example is a local domain of the client but the hub gave it
	// only home.example: the client accepts, the hub refuses the transfer
	// (5.7.1), the client returns a DSN to the site's MTA; nothing reaches
	// the internet.
	foreign, fm := relayMail("bob@other.example", "carol@far.example", "foreign", 0)
	r.submit(t, "bob@other.example", "carol@far.example", []string{fm})
	dsn := waitSink(t, r.site, func(c captured) bool {
		return strings.Contains(c.message, "bob@other.example") && strings.Contains(c.message, "5.7.1") &&
			strings.Contains(c.message, "carol@far.example")
	}, 60*time.Second)
	if !strings.Contains(dsn.message, "not held by this relay client") {
		t.Errorf("DSN does not say why:\n%.2000s", dsn.message)
	}
	waitLog(t, r.hub, "transfer refused: sender domain not held by the relay client", 10*time.Second)

	// A second client process with the right account and a wrong
	// password: SASL fails at the hub's server, it never connects, and it
	// accepts nothing from its MTA (no hub key: 451 at RCPT).
	bad := r.clientConfig(t, t.TempDir(), "wrong-password", fingerprintOf(t, r.hub))
	imp := startGateway(t, bad)
	waitLog(t, imp, "xmpp: authentication failed", 30*time.Second)
	c, err := smtp.Dial(bad.ReadyAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.StartTLS(&tls.Config{InsecureSkipVerify: true})
	c.Auth(smtp.PlainAuth("", r.subUser, r.subPass, "127.0.0.1"))
	c.Mail("alice@home.example")
	if err := c.Rcpt("carol@far.example"); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("RCPT at a client that never logged in: %v, want 451", err)
	}
	c.Quit()
	imp.stop(syscall.SIGTERM)

	// An account of the hub's server that is not a relay client: the hub
	// refuses its hello and its transfers.
	ctx := ctxT(t, 30*time.Second)
	sess, err := r.srv.DialClient(ctx, "mallory", "mallory-pw")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	go sess.Serve(nil) // IQ answers arrive through Serve
	if err := relayIQ(ctx, sess, r.srv.Component, `<hello xmlns="urn:passerelle:relay:0"><key xmlns="urn:passerelle:peer:0">AQID</key></hello>`, "forbidden"); err != nil {
		t.Error(err)
	}
	if err := relayIQ(ctx, sess, r.srv.Component, `<mail xmlns="urn:passerelle:peer:0" id="x1">AQID</mail>`, "forbidden"); err != nil {
		t.Error(err)
	}

	// The hub's MX delivery fails (the recipient's domain does not exist):
	// the hub's DSN comes back down the relay link to the site's MTA.
	lost, lm := relayMail("alice@home.example", "carol@nowhere.example", "no-such-domain", 0)
	r.submit(t, "alice@home.example", "carol@nowhere.example", []string{lm})
	bounce := waitSink(t, r.site, func(c captured) bool {
		return strings.Contains(c.message, "carol@nowhere.example") && strings.Contains(c.message, "alice@home.example") &&
			strings.Contains(c.message, "delivery-status")
	}, 60*time.Second)
	if !strings.Contains(bounce.message, lost) { // the hub's DSN quotes the header of the mail
		t.Errorf("the hub's DSN does not name the failed mail:\n%.2000s", bounce.message)
	}

	// Flush: a good mail sent after all of that arrives, and the refused
	// one never reached the internet.
	ok, om := relayMail("alice@home.example", "carol@far.example", "after-refusals", 0)
	r.submit(t, "alice@home.example", "carol@far.example", []string{om})
	r.internet.wait(t, ok, 60*time.Second)
	if n := countMarker(r.internet, foreign); n != 0 {
		t.Errorf("the refused mail reached the internet %d times", n)
	}
}

// testRelayOutage sends n mails through one side while the other (or that
// side's far end) is SIGKILLed after the first arrive, then restarted
// after every mail was accepted: none may be lost.
func testRelayOutage(t *testing.T, r *relaySites, name string, n int, dst *sink, victim *gateway, send func([]string), from, to string,
	holder *gateway, waiting string) {
	var markers, mails []string
	for i := range n {
		m, mail := relayMail(from, to, name, i)
		markers, mails = append(markers, m), append(mails, mail)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(mails[:n/2]) }()
	waitSink(t, dst, func(c captured) bool { return strings.Contains(c.message, name+"-0010") }, 60*time.Second)
	victim.stop(syscall.SIGKILL)
	wg.Wait()
	send(mails[n/2:]) // the other side accepts while the victim is down
	// `passerelle queue list` on the side holding the mail says what it
	// waits for.
	out, err := exec.Command(binary, "queue", "list", "-c", holder.path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), waiting) {
		t.Errorf("queue list: %v, want lines waiting for %q:\n%.1500s", err, waiting, out)
	}
	victim.start()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		seen, lost, dups := dst.tally(name, markers)
		if lost == 0 {
			t.Logf("%s: %d accepted, %d delivered, lost 0, duplicates %d", name, n, len(seen), dups)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d accepted mails never arrived", name, lost, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func countMarker(s *sink, marker string) int {
	n := 0
	for _, c := range s.all() {
		if strings.Contains(c.message, marker) {
			n++
		}
	}
	return n
}

func waitSink(t *testing.T, s *sink, ok func(captured) bool, d time.Duration) captured {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range s.all() {
			if ok(c) {
				return c
			}
		}
	}
	t.Fatalf("no such message at %s within %v", s.addr, d)
	return captured{}
}

// relayIQ sends an IQ set with payload (raw XML) to the hub from sess and
// checks that the answer is an error with condition wantCond.
func relayIQ(ctx context.Context, sess *xmpp.Session, to, payload, wantCond string) error {
	j, err := jid.Parse(to)
	if err != nil {
		return err
	}
	resp, err := sess.SendIQ(ctx, stanza.IQ{To: j, Type: stanza.SetIQ}.Wrap(xml.NewDecoder(strings.NewReader(payload))))
	if err != nil {
		return fmt.Errorf("IQ to the hub: %w", err)
	}
	defer resp.Close()
	var b strings.Builder
	enc := xml.NewEncoder(&b)
	if _, err := xmlstream.Copy(enc, resp); err != nil {
		return err
	}
	enc.Flush()
	if !strings.Contains(b.String(), `type="error"`) || !strings.Contains(b.String(), wantCond) {
		return fmt.Errorf("hub answered %s, want an error %s", b.String(), wantCond)
	}
	return nil
}

// listeningSockets returns the local addresses (ip:port, hex as in
// /proc/net/tcp{,6}) of the TCP sockets in LISTEN state that process pid
// holds.
func listeningSockets(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" && inodes[fs[9]] { // 0A: TCP_LISTEN
				out = append(out, fs[1])
			}
		}
	}
	return out
}

// hexAddr is ip:port as /proc/net/tcp writes an IPv4 address.
func hexAddr(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	var ip [4]byte
	fmt.Sscanf(host, "%d.%d.%d.%d", &ip[0], &ip[1], &ip[2], &ip[3])
	var p int
	fmt.Sscanf(port, "%d", &p)
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], p)
}
