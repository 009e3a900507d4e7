package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"go.uber.org/zap"

	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
	"passerelle/gateway/dkim"
)

// reverseEnv is the XMPP server (startXMPP: example.org, plus a second
// VirtualHost "localhost" that is not a local mail domain), a gateway
// delivering through smtp-sink as its smarthost and signing with DKIM, and
// alice with an OX key published over PEP.
type reverseEnv struct {
	srv      *xmppServer
	gw       *gateway
	sink     *sink
	alice    *revClient
	aliceKey *openpgp.Entity
	dkimTXT  string // the record `passerelle keys dkim` printed
	// smarthost is where the gateway sends mail: the sink, or what
	// newReverseEnvWith's setup put in front of it.
	smarthost string
}

const reverseExtra = `
[policy.domains."remote.example"]
reverse_plaintext = true
[delivery.smarthost]
addr = "%s"
tls = "none"
[[dkim]]
domain = "example.org"
selector = "e2e"
key_file = "dkim.pem"
`

func newReverseEnv(t *testing.T, sinkFlags ...string) *reverseEnv {
	t.Helper()
	return newReverseEnvInbound(t, "", sinkFlags...)
}

// newReverseEnvInbound is newReverseEnv with inbound as the raw TOML of
// [inbound] (empty: verify = false).
func newReverseEnvInbound(t *testing.T, inbound string, sinkFlags ...string) *reverseEnv {
	t.Helper()
	return newReverseEnvWith(t, func(c *gwConfig, sinkAddr string) string {
		c.Inbound = inbound
		return sinkAddr
	}, sinkFlags...)
}

// newReverseEnvWith is newReverseEnv where setup adjusts the gateway's
// configuration and returns its smarthost (sinkAddr, or something in front
// of the sink).
func newReverseEnvWith(t *testing.T, setup func(c *gwConfig, sinkAddr string) string, sinkFlags ...string) *reverseEnv {
	t.Helper()
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, ExtraHosts: []string{"localhost"}})
	env := &reverseEnv{srv: srv, sink: startSink(t, sinkFlags...)}
	dir := t.TempDir()
	writeDKIMKey(t, filepath.Join(dir, "dkim.pem"))
	cfg := gwConfig{Dir: dir, ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain}
	env.smarthost = setup(&cfg, env.sink.addr)
	cfg.Extra = fmt.Sprintf(reverseExtra, env.smarthost)
	env.gw = startGateway(t, cfg)
	out, err := exec.Command(binary, "keys", "dkim", "-c", env.gw.path, "example.org").CombinedOutput()
	if err != nil {
		t.Fatalf("keys dkim: %v\n%s", err, out)
	}
	env.dkimTXT = txtValue(t, string(out))
	ctx := ctxT(t, 2*time.Minute)
	env.alice = newRevClient(t, srv.Client(ctx, t, "alice", "alice-pw"))
	env.aliceKey = newUserKey(t, "xmpp:alice@"+srv.Domain)
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: env.alice.sess}, env.aliceKey, "open"); err != nil {
		t.Fatalf("alice publishes her key: %v", err)
	}
	return env
}

func writeDKIMKey(t *testing.T, path string) {
	t.Helper()
	k, err := dkim.GenerateKey(dkim.RSA)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := dkim.EncodePrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
}

// txtValue joins the character-strings of the zone-file line in out.
func txtValue(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "e2e._domainkey.example.org. IN TXT ") {
			continue
		}
		var v strings.Builder
		for _, part := range strings.Split(line, "\"")[1:] {
			if strings.TrimSpace(part) != "" {
				v.WriteString(part)
			}
		}
		return v.String()
	}
	t.Fatalf("keys dkim printed no TXT record:\n%s", out)
	return ""
}

// verifyDKIM checks c's DKIM signature against the published record.
func (env *reverseEnv) verifyDKIM(t *testing.T, c captured) {
	t.Helper()
	vs, err := msgdkim.VerifyWithOptions(strings.NewReader(c.crlf()), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != "e2e._domainkey.example.org" {
				return nil, fmt.Errorf("unexpected lookup %s", name)
			}
			return []string{env.dkimTXT}, nil
		}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
		t.Fatalf("DKIM does not verify: err=%v verifications=%+v", err, vs)
	}
}

func puppetOf(env *reverseEnv, addr string) string {
	return strings.Replace(addr, "@", `\40`, 1) + "@" + env.srv.Component
}

// sealTo makes the <openpgp/> element alice's OX client sends to puppet.
func (env *reverseEnv) sealTo(t *testing.T, puppet string, p *payload.Payload) []xml.Token {
	t.Helper()
	src := pep.NewSource(pep.SourceConfig{Client: pep.ClientQuerier{Session: env.alice.sess}, Log: zap.NewNop()})
	pk, err := src.Lookup(ctxT(t, 30*time.Second), puppet)
	if err != nil {
		t.Fatalf("fetch the puppet key of %s over PEP: %v", puppet, err)
	}
	inner, err := payload.BuildInner(p)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := ox.Seal(ox.SealConfig{To: puppet, Payload: inner, Signer: env.aliceKey,
		Recipients: []*openpgp.Entity{pk, env.aliceKey}, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	toks := elem(ox.NS, "openpgp", "")
	return []xml.Token{toks[0], xml.CharData(encodeB64(ct)), toks[1]}
}

func marker(name string) string { return fmt.Sprintf("%s-%x", name, time.Now().UnixNano()) }

func TestReversePlaintextAndOX(t *testing.T) {
	env := newReverseEnv(t)
	bob := puppetOf(env, "bob@remote.example")

	plain := marker("plain")
	env.alice.send(t, bob, "p1", append(append(elem("", "subject", "Hello "+plain), elem("", "body", "plain text "+plain)...), receiptRequest()...)...)
	if m := env.alice.reply(t, "p1"); m.Received == nil {
		t.Fatalf("plaintext message refused: %s %q", m.condition(), m.Error.Text)
	}
	c := env.sink.wait(t, plain, 30*time.Second)
	if got := addrOf(c.header("From")); got != "alice@example.org" {
		t.Errorf("From = %q", got)
	}
	if got := c.header("Subject"); got != "Hello "+plain || !strings.Contains(c.body(), "plain text "+plain) {
		t.Errorf("Subject %q, body %q", got, c.body())
	}
	if !strings.Contains(c.meta, "X-Mail-Args: <alice@example.org>") || !strings.Contains(c.meta, "X-Rcpt-Args: <bob@remote.example>") {
		t.Errorf("envelope:\n%s", c.meta)
	}
	if !strings.HasPrefix(c.header("Autocrypt"), "addr=alice@example.org;") {
		t.Errorf("no Autocrypt header with alice's key: %q", c.header("Autocrypt"))
	}
	env.verifyDKIM(t, c)

	enc := marker("ox")
	oxMsg := env.sealTo(t, bob, &payload.Payload{Subject: "Secret " + enc, Body: "encrypted " + enc})
	env.alice.send(t, bob, "o1", append(oxMsg, receiptRequest()...)...)
	if m := env.alice.reply(t, "o1"); m.Received == nil {
		t.Fatalf("OX message refused: %s %q", m.condition(), m.Error.Text)
	}
	c = env.sink.wait(t, enc, 30*time.Second)
	if addrOf(c.header("From")) != "alice@example.org" || c.header("Subject") != "Secret "+enc {
		t.Errorf("From %q Subject %q", c.header("From"), c.header("Subject"))
	}
	env.verifyDKIM(t, c)
}

func TestReversePGPMIMEForRecipientWithKey(t *testing.T) {
	env := newReverseEnv(t)
	bobKey := newUserKey(t, "bob@keyed.example")
	importKey(t, env.gw, bobKey)
	bob := puppetOf(env, "bob@keyed.example")
	m := marker("pgpmime")
	env.alice.send(t, bob, "k1", append(env.sealTo(t, bob, &payload.Payload{Subject: "Top " + m, Body: "secret " + m}),
		receiptRequest()...)...)
	if r := env.alice.reply(t, "k1"); r.Received == nil {
		t.Fatalf("refused: %s %q", r.condition(), r.Error.Text)
	}
	var c captured
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && c.message == ""; time.Sleep(50 * time.Millisecond) {
		for _, x := range env.sink.all() {
			if strings.Contains(x.meta, "<bob@keyed.example>") {
				c = x
			}
		}
	}
	if c.message == "" {
		t.Fatal("nothing reached the sink for bob@keyed.example")
	}
	time.Sleep(100 * time.Millisecond)
	c = env.sink.all()[len(env.sink.all())-1]
	if strings.Contains(c.message, m) {
		t.Fatalf("the marker travels in the clear:\n%s", c.message)
	}
	if !strings.Contains(c.header("Content-Type"), "multipart/encrypted") || c.header("Subject") != "[...]" {
		t.Errorf("not PGP/MIME with an obscured subject: %q / %q", c.header("Content-Type"), c.header("Subject"))
	}
	env.verifyDKIM(t, c)
	domainKey := gatewayDomainKey(t, env.gw)
	plain, status := gpgDecrypt(t, c.armored(t), bobKey, domainKey)
	if !strings.Contains(status, "[GNUPG:] GOODSIG") || !strings.Contains(status, string(keys.FingerprintOf(domainKey))) {
		t.Errorf("gpg reports no good signature by the domain key %s:\n%s", keys.FingerprintOf(domainKey), status)
	}
	if !strings.Contains(plain, "secret "+m) || !strings.Contains(plain, "Subject: Top "+m) {
		t.Errorf("decrypted part lacks the body or the protected Subject:\n%s", plain)
	}

	nokey := marker("nokey")
	env.alice.send(t, puppetOf(env, "carol@keyed.example"), "k2",
		append(env.sealTo(t, puppetOf(env, "carol@keyed.example"), &payload.Payload{Body: nokey}), receiptRequest()...)...)
	if r := env.alice.reply(t, "k2"); r.condition() != "not-acceptable" || !strings.Contains(r.Error.Text, "no published OpenPGP key") {
		t.Errorf("no key, no plaintext allowed: got %+v (%s)", r, r.condition())
	}
}

func gatewayDomainKey(t *testing.T, g *gateway) *openpgp.Entity {
	t.Helper()
	st, err := keys.OpenStore(filepath.Join(g.cfg.Dir, "keys"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.DomainKey()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReverseForeignSenderForbidden(t *testing.T) {
	env := newReverseEnv(t)
	if err := env.srv.Register("mallory", "localhost", "m-pw"); err != nil {
		t.Fatalf("register mallory@localhost: %v", err)
	}
	mallory := newRevClient(t, dialOn(ctxT(t, time.Minute), t, env.srv, "localhost", "mallory", "m-pw"))
	m := marker("foreign")
	mallory.send(t, puppetOf(env, "bob@remote.example"), "f1", elem("", "body", m)...)
	r := mallory.reply(t, "f1")
	if r.condition() != "forbidden" || r.Error.Type != "auth" {
		t.Fatalf("want forbidden (auth), got %q (%s): %q", r.condition(), r.Error.Type, r.Error.Text)
	}
	env.flush(t)
	for _, c := range env.sink.all() {
		if strings.Contains(c.message, m) {
			t.Fatalf("mallory's message reached the sink:\n%s", c.message)
		}
	}
	if n := env.sink.count(); n != 1 {
		t.Fatalf("%d messages reached the sink, want only the flush marker", n)
	}
}

func TestReverseSpoofAndInjection(t *testing.T) {
	env := newReverseEnv(t)
	bob := puppetOf(env, "bob@remote.example")
	m := marker("spoof")
	raw := "From: CEO <ceo@bank.example>\r\nSender: ceo@bank.example\r\nReply-To: thief@evil.example\r\n" +
		"Bcc: victim@evil.example\r\nReturn-Path: <thief@evil.example>\r\nTo: someone@else.example\r\n" +
		"Subject: embedded " + m + "\r\nMessage-ID: <" + m + "@client.example>\r\n\r\nembedded body " + m + "\r\n"
	mail, err := payload.MailTokens(&payload.Mail{Raw: []byte(raw)})
	if err != nil {
		t.Fatal(err)
	}
	env.alice.send(t, bob, "s1", append(append(elem("", "body", "text rendition"), mail...), receiptRequest()...)...)
	if r := env.alice.reply(t, "s1"); r.Received == nil {
		t.Fatalf("refused: %s %q", r.condition(), r.Error.Text)
	}
	c := env.sink.wait(t, "embedded body "+m, 30*time.Second)
	if addrOf(c.header("From")) != "alice@example.org" || addrOf(c.header("To")) != "bob@remote.example" {
		t.Errorf("From %q To %q", c.header("From"), c.header("To"))
	}
	for _, h := range []string{"Sender", "Reply-To", "Bcc", "Return-Path"} {
		if v := c.header(h); v != "" {
			t.Errorf("%s survived: %q", h, v)
		}
	}
	if strings.Count(c.meta, "X-Rcpt-Args:") != 1 || !strings.Contains(c.meta, "X-Rcpt-Args: <bob@remote.example>") {
		t.Errorf("envelope recipients:\n%s", c.meta)
	}
	env.verifyDKIM(t, c)

	// Injection: dots and line breaks in the body, CR/LF in the subject.
	// Over XMPP a CR arrives as LF (PEERS.md); inside OX it survives.
	inj := marker("inj")
	body := "first " + inj + "\r\n.\r\nsecond\n..\nthird\rfourth\n.\nMAIL FROM:<x@evil.example>\r\n.\r\n"
	want := "first " + inj + "\n.\nsecond\n..\nthird\nfourth\n.\nMAIL FROM:<x@evil.example>\n.\n"
	subject := "subj " + inj + "\r\nBcc: victim@evil.example"
	before := env.sink.count()
	env.alice.send(t, bob, "i1", append(env.sealTo(t, bob, &payload.Payload{Subject: subject, Body: body}), receiptRequest()...)...)
	env.alice.send(t, bob, "i2", append(append(elem("", "subject", subject), elem("", "body", strings.Replace(body, "first", "plain", 1))...), receiptRequest()...)...)
	for _, id := range []string{"i1", "i2"} {
		if r := env.alice.reply(t, id); r.Received == nil {
			t.Fatalf("%s refused: %s %q", id, r.condition(), r.Error.Text)
		}
	}
	for _, prefix := range []string{"first ", "plain "} {
		c := env.sink.wait(t, prefix+inj, 30*time.Second)
		if got := c.body(); got != strings.Replace(want, "first ", prefix, 1) {
			t.Errorf("body %q, want %q", got, strings.Replace(want, "first ", prefix, 1))
		}
		if got := c.header("Subject"); got != "subj "+inj+"  Bcc: victim@evil.example" && got != "subj "+inj+" Bcc: victim@evil.example" {
			t.Errorf("Subject = %q", got)
		}
		if c.header("Bcc") != "" || c.header("MAIL FROM") != "" {
			t.Errorf("injected header field:\n%s", c.message)
		}
		env.verifyDKIM(t, c)
	}
	env.flush(t)
	if n := env.sink.count() - before; n != 3 {
		t.Errorf("%d transactions for 2 messages and the flush marker", n)
	}
}

func TestReverseSinkRejectsComesBackAsMessage(t *testing.T) {
	env := newReverseEnv(t, "-f", "RCPT")
	bob := puppetOf(env, "bob@remote.example")
	env.alice.send(t, bob, "d1", append(elem("", "body", marker("dsn")), receiptRequest()...)...)
	if r := env.alice.reply(t, "d1"); r.Received == nil {
		t.Fatalf("refused: %s %q", r.condition(), r.Error.Text)
	}
	// A1: alice publishes a key (she sent OX), so the notice, which names
	// the correspondent and quotes the remote reply, reaches her as OX
	// signed by the puppet key, and Prosody sees neither in clear.
	n := env.alice.next(t, 60*time.Second, func(m revMsg) bool { return m.Type == "chat" && m.OpenPGP != nil })
	if !strings.HasPrefix(n.From, bob) {
		t.Errorf("notice from %q, want the puppet %s", n.From, bob)
	}
	if strings.Contains(n.Body, "remote.example") || strings.Contains(n.Body, "5.3.0") {
		t.Errorf("notice in clear: %q", n.Body)
	}
	ct, err := ox.DecodeElement([]byte(n.OpenPGP.Data), 0)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := pep.NewSource(pep.SourceConfig{Client: pep.ClientQuerier{Session: env.alice.sess}}).Lookup(ctxT(t, 30*time.Second), bob)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{env.aliceKey}, Senders: openpgp.EntityList{pk},
		Recipient: "alice@example.org"})
	if err != nil {
		t.Fatalf("alice cannot open the notice with her key and the puppet's: %v", err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil || !strings.Contains(p.Body, "bob@remote.example could not be delivered") || !strings.Contains(p.Body, "500 5.3.0") {
		t.Errorf("notice = %+v, %v", p, err)
	}
}

func TestReverseReplyThreadsToForwardedMail(t *testing.T) {
	env := newReverseEnv(t)
	id := marker("fwd") + "@remote.example"
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--header", "Message-Id: <"+id+">",
		"--header", "References: <root-"+id+">", "--header", "Subject: question", "--body", "what do you think?")
	fwd := env.alice.next(t, 30*time.Second, func(m revMsg) bool { return m.OpenPGP != nil })
	ct, err := ox.DecodeElement([]byte(fwd.OpenPGP.Data), 0)
	if err != nil {
		t.Fatal(err)
	}
	bob := puppetOf(env, "bob@remote.example")
	src := pep.NewSource(pep.SourceConfig{Client: pep.ClientQuerier{Session: env.alice.sess}})
	pk, err := src.Lookup(ctxT(t, 30*time.Second), bob)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{env.aliceKey}, Senders: openpgp.EntityList{pk},
		Recipient: "alice@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil || p.Thread == "" {
		t.Fatalf("forwarded payload: %v, thread %q", err, p.Thread)
	}
	for i, thread := range []string{p.Thread, ""} { // with the thread, then the fallback without
		m := marker(fmt.Sprintf("reply%d", i))
		env.alice.send(t, bob, m, append(env.sealTo(t, bob, &payload.Payload{Body: m, Thread: thread}), receiptRequest()...)...)
		if r := env.alice.reply(t, m); r.Received == nil {
			t.Fatalf("reply refused: %s %q", r.condition(), r.Error.Text)
		}
		c := env.sink.wait(t, m, 30*time.Second)
		if got := c.header("In-Reply-To"); got != "<"+id+">" {
			t.Errorf("thread %q: In-Reply-To = %q, want <%s>", thread, got, id)
		}
		if got := c.header("References"); got != "<root-"+id+"> <"+id+">" {
			t.Errorf("thread %q: References = %q", thread, got)
		}
	}
	// A3: the thread store that made this work names neither the
	// Message-ID nor the correspondent's domain in clear.
	store, err := os.ReadFile(filepath.Join(env.gw.cfg.Dir, "spool", "threads.log"))
	if err != nil || len(store) == 0 {
		t.Fatalf("threads.log: %v (%d bytes)", err, len(store))
	}
	if bytes.Contains(store, []byte("remote.example")) || bytes.Contains(store, []byte(id)) {
		t.Errorf("threads.log holds a Message-ID in clear: %s", store)
	}
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// addrOf is the addr-spec of a single-address header field.
func addrOf(v string) string {
	a, err := mail.ParseAddress(v)
	if err != nil {
		return "unparsable: " + v
	}
	return a.Address
}
