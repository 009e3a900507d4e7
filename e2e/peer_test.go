package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/ox"
	"passerelle/bridge/peerrec"
	"passerelle/bridge/pep"
	"passerelle/internal/dnstest"
	"passerelle/internal/prosodytest"
)

// peerSite is one Passerelle site: its Prosody, federating with the other
// site's over s2s, and its gateway connected as mail.<domain>.
type peerSite struct {
	domain string
	srv    *prosodytest.Server
	gw     *gateway
	key    *openpgp.Entity // the gateway's domain key (public part is what matters)
}

// peerPair is site A (a.example: alice) and site B (b.example: bob, and
// carol who is still on email behind B's MTA, an smtp-sink).
type peerPair struct {
	dns      *dnstest.Server
	a, b     *peerSite
	mta      *sink // B's local MTA
	internet *sink // the MX of m.example and s.example, peer domains whose gateway is down
}

// peerConfig is the [peers] section and the policy both sites share; A
// routes b.example to the peer route (its MTA hands such mail to
// Passerelle's MX listener), B sends carol's mail to its MTA.
func peerConfig(d *dnstest.Server, extra string) string {
	return fmt.Sprintf(`[peers]
smtp_fallback = true
resolver = "%s"
lookup_timeout = "2s"
negative_ttl = "1s"
retry = "300ms"
rate_per_minute = 60000
burst = 1000
%s`, d.Addr, extra)
}

func newPeerPair(t *testing.T) *peerPair {
	t.Helper()
	d := dnstest.Start(t)
	srvs := prosodytest.StartFederation(t, d,
		prosodytest.Options{Domain: "a.example", Users: map[string]string{"alice": "alice-pw"}, HTTPFileShare: true},
		prosodytest.Options{Domain: "b.example", Users: map[string]string{"bob": "bob-pw", "dave": "dave-pw"}, HTTPFileShare: true})
	p := &peerPair{dns: d, mta: startSink(t), internet: startSink(t)}
	// m.example (policy=mixed) and s.example (strict) publish a gateway
	// that never comes up; their MX is the internet sink.
	for _, dom := range []string{"m.example", "s.example"} {
		d.SetMX(dom, 10, "mx."+dom)
		d.SetA("mx."+dom, "127.0.0.1")
	}
	// A also lists c.example as its own, which it does not hold: c.example's
	// record names another gateway. B must refuse what A sends for it.
	p.a = p.startSite(t, srvs[0], fmt.Sprintf(`
[policy.domains."b.example"]
route = "peer"
[policy.domains."m.example"]
route = "peer"
[policy.domains."s.example"]
route = "peer"
[delivery]
port = %s
dns_server = "%s"
allow_private = true
mta_sts = false
`, p.internet.addr[strings.LastIndexByte(p.internet.addr, ':')+1:], d.Addr), "c.example")
	p.b = p.startSite(t, srvs[1], fmt.Sprintf(`
[policy.addresses."carol@b.example"]
route = "smtp"
[delivery.smarthost]
addr = "%s"
tls = "none"
`, p.mta.addr))
	p.publish(t, p.a, p.a.key)
	p.publish(t, p.b, p.b.key)
	for dom, pol := range map[string]peerrec.Policy{"m.example": peerrec.Mixed, "s.example": peerrec.Strict} {
		d.SetTXT("_passerelle."+dom, peerrec.Record{JID: "mail." + dom, Fingerprint: p.b.key.PrimaryKey.Fingerprint,
			Policy: pol, TTL: time.Hour}.String())
	}
	d.SetTXT("_passerelle.c.example", peerrec.Record{JID: "mail.c.example", Fingerprint: p.a.key.PrimaryKey.Fingerprint,
		Policy: peerrec.Strict, TTL: time.Hour}.String())
	return p
}

func (p *peerPair) startSite(t *testing.T, srv *prosodytest.Server, policy string, others ...string) *peerSite {
	t.Helper()
	s := &peerSite{domain: srv.Domain, srv: srv}
	s.gw = startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, OtherDomains: others,
		// Large mail: the sender uploads to its own server's http_file_share
		// (on 127.0.0.2 or .3), the receiver downloads from there.
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent),
		Extra:     "[egress]\nallow_networks = [\"127.0.0.0/8\"]\n" + peerConfig(p.dns, "") + policy})
	s.key = domainKeyOf(t, s.gw)
	return s
}

// domainKeyOf reads the gateway's domain key from its keys directory.
func domainKeyOf(t *testing.T, g *gateway) *openpgp.Entity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.cfg.Dir, "keys", "domain.asc"))
	if err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil || len(el) != 1 {
		t.Fatalf("domain key: %v", err)
	}
	return el[0]
}

// publish sets the site's _passerelle record with the fingerprint of key.
// A one-second DNS TTL lets a test change it.
func (p *peerPair) publish(t *testing.T, s *peerSite, key *openpgp.Entity) {
	t.Helper()
	rec := peerrec.Record{JID: s.srv.Component, Fingerprint: key.PrimaryKey.Fingerprint,
		Policy: peerrec.Strict, TTL: time.Hour}
	p.dns.SetTXTTTL("_passerelle."+s.domain, 1, rec.String())
}

// sendA submits one mail to site A's MX (as A's own MTA would) and
// returns what SMTP answered.
func (p *peerPair) sendA(from, to, body string) error {
	return smtp.SendMail(p.a.gw.cfg.MXAddr, nil, from, []string{to}, []byte(body))
}

// peerMail is a mail whose marker appears only in the subject and body
// (the thread store keeps Message-IDs, which are not secret).
func peerMail(from, to, marker string) string {
	return "From: " + from + "\r\nTo: " + to + "\r\nSubject: peer " + marker + "\r\n" +
		"Message-ID: <" + fmt.Sprintf("%x", time.Now().UnixNano()) + "@a.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hello over federation, " + marker + "\r\n"
}

// TestPeerRoute is issue 8's "Done when" on two real Prosody servers
// federating over s2s, each with its own Passerelle; one pair of sites for
// every case, to keep the runtime small.
func TestPeerRoute(t *testing.T) {
	p := newPeerPair(t)
	ctx := ctxT(t, 4*time.Minute)
	bob := newInbox(ctx, t, p.b.srv, "bob", "bob-pw")
	bobKey := newUserKey(t, "xmpp:bob@b.example")
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: bob.sess}, bobKey, "open"); err != nil {
		t.Fatalf("bob publishes his key: %v", err)
	}

	t.Run("to an XMPP user at the peer, end to end encrypted", func(t *testing.T) {
		marker := fmt.Sprintf("peer-xmpp-%x", time.Now().UnixNano())
		file := filepath.Join(t.TempDir(), "mail.eml")
		if err := os.WriteFile(file, []byte(peerMail("alice@a.example", "bob@b.example", marker)), 0o600); err != nil {
			t.Fatal(err)
		}
		swaks(t, p.a.gw.cfg.MXAddr, "bob@b.example", true, "--from", "alice@a.example", "--data", "@"+file)
		m := bob.next(t, 60*time.Second)
		if want := `alice\40a.example@mail.b.example`; !strings.HasPrefix(m.From, want) {
			t.Errorf("from %q, want the puppet %s", m.From, want)
		}
		if m.OpenPGP == nil || strings.Contains(m.Body, marker) {
			t.Fatalf("not an OX message, or the marker is in the clear: %.300s", m.Body)
		}
		ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
		if err != nil {
			t.Fatal(err)
		}
		// A found bob's key (XEP-0373 PEP over federation) and sealed the
		// message to it: signed by A's domain key, which B does not hold, so
		// B forwarded what it could not read.
		plain, status := gpgDecrypt(t, ct, bobKey, p.a.key)
		if !strings.Contains(plain, marker) || !strings.Contains(status, "DECRYPTION_OKAY") ||
			!strings.Contains(status, "VALIDSIG "+strings.ToUpper(fmt.Sprintf("%x", p.a.key.PrimaryKey.Fingerprint))) {
			t.Fatalf("GnuPG with bob's key, signed by A's domain key: %q\n%s", plain, status)
		}
		if !p.b.gw.logContains("end-to-end copies stored") {
			t.Error("B did not store the mail as an end-to-end copy")
		}
		// One message: the next one bob gets is a later mail, not a copy.
		flush := fmt.Sprintf("flush-%x", time.Now().UnixNano())
		if err := p.sendA("alice@a.example", "bob@b.example", peerMail("alice@a.example", "bob@b.example", flush)); err != nil {
			t.Fatal(err)
		}
		next := bob.next(t, 60*time.Second)
		nct, err := ox.DecodeElement([]byte(next.OpenPGP.Data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if plain, _ := gpgDecrypt(t, nct, bobKey, p.a.key); !strings.Contains(plain, flush) {
			t.Fatalf("bob's next message is not the later mail (a duplicate?): %.200q", plain)
		}
		for _, dir := range []string{p.a.srv.Dir, p.b.srv.Dir, filepath.Join(p.a.gw.cfg.Dir, "spool"), filepath.Join(p.b.gw.cfg.Dir, "spool")} {
			if f := grepTree(t, dir, marker); f != "" {
				t.Errorf("plaintext marker found in %s", f)
			}
		}
	})

	t.Run("to an XMPP user whose key only the peer knows: re-encrypted by the peer", func(t *testing.T) {
		// dave's key is pinned at B (keys import), not published: A seals
		// to B's domain key, B opens it and encrypts to dave's key before
		// its spool, as for any mail it receives.
		dave := newInbox(ctx, t, p.b.srv, "dave", "dave-pw")
		daveKey := newUserKey(t, "dave@b.example")
		importKey(t, p.b.gw, daveKey)
		marker := fmt.Sprintf("peer-domainkey-%x", time.Now().UnixNano())
		if err := p.sendA("alice@a.example", "dave@b.example", peerMail("alice@a.example", "dave@b.example", marker)); err != nil {
			t.Fatalf("A refused: %v", err)
		}
		m := dave.next(t, 60*time.Second)
		if m.OpenPGP == nil || strings.Contains(m.Body, marker) {
			t.Fatalf("not an OX message, or the marker is in the clear: %.300s", m.Body)
		}
		ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
		if err != nil {
			t.Fatal(err)
		}
		bare, _, _ := strings.Cut(m.From, "/")
		src := pep.NewSource(pep.SourceConfig{Client: pep.ClientQuerier{Session: dave.sess},
			JIDOf: func(string) (jid.JID, error) { return jid.Parse(bare) }})
		puppet, err := src.Lookup(ctx, bare)
		if err != nil {
			t.Fatalf("puppet key over PEP: %v", err)
		}
		if plain, status := gpgDecrypt(t, ct, daveKey, puppet); !strings.Contains(plain, marker) || !strings.Contains(status, "GOODSIG") {
			t.Fatalf("GnuPG with dave's key, signed by B's puppet key: %q\n%s", plain, status)
		}
		for _, dir := range []string{filepath.Join(p.a.gw.cfg.Dir, "spool"), filepath.Join(p.b.gw.cfg.Dir, "spool")} {
			if f := grepTree(t, dir, marker); f != "" {
				t.Errorf("plaintext marker found in %s", f)
			}
		}
	})

	t.Run("to the peer's local MTA, byte-identical apart from trace fields", func(t *testing.T) {
		marker := fmt.Sprintf("peer-mta-%x", time.Now().UnixNano())
		mail := peerMail("alice@a.example", "carol@b.example", marker)
		file := filepath.Join(t.TempDir(), "mail.eml")
		if err := os.WriteFile(file, []byte(mail), 0o600); err != nil {
			t.Fatal(err)
		}
		swaks(t, p.a.gw.cfg.MXAddr, "carol@b.example", true, "--from", "alice@a.example", "--data", "@"+file)
		c := p.mta.wait(t, marker, 60*time.Second)
		// swaks ends DATA with CRLF . CRLF after the file's last line: the
		// message as sent is the file plus one CRLF.
		if got := stripTrace(c.crlf()); got != mail+"\r\n" {
			t.Fatalf("the MTA got, apart from trace fields:\n%q\nwant\n%q", got, mail)
		}
		// Once: after a later mail arrived, still one copy.
		flush := fmt.Sprintf("flush-mta-%x", time.Now().UnixNano())
		if err := p.sendA("alice@a.example", "carol@b.example", peerMail("alice@a.example", "carol@b.example", flush)); err != nil {
			t.Fatal(err)
		}
		p.mta.wait(t, flush, 60*time.Second)
		p.mta.reread(t, marker)
	})

	t.Run("large mail to the peer's local MTA, over A's upload service, intact", func(t *testing.T) {
		marker := fmt.Sprintf("peer-large-%x", time.Now().UnixNano())
		mail := peerMail("alice@a.example", "carol@b.example", marker)
		var b strings.Builder
		b.WriteString(mail)
		for b.Len() < 3<<20 { // over the 512 KiB s2s stanza: the transfer carries <external/>
			b.WriteString(strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 2) + "\r\n")
		}
		b.WriteString("end of " + marker + "\r\n")
		if err := p.sendA("alice@a.example", "carol@b.example", b.String()); err != nil {
			t.Fatalf("A's MX: %v", err)
		}
		c := p.mta.wait(t, "end of "+marker, 120*time.Second) // the last line: the sink has written it all
		if got := stripTrace(c.crlf()); got != b.String() {
			t.Fatalf("B's MTA got %d bytes apart from trace fields, want the %d sent", len(got), b.Len())
		}
		if !p.a.gw.logContains("large mail to the peer: uploaded") {
			t.Error("A logged no upload: the mail did not take the upload path")
		}
		for _, dir := range []string{filepath.Join(p.a.gw.cfg.Dir, "spool"), p.a.srv.Dir, p.b.srv.Dir} {
			if f := grepTree(t, dir, marker); f != "" {
				t.Errorf("plaintext of the large mail in %s", f)
			}
		}
	})

	t.Run("peer gateway down: policy=mixed falls back to SMTP at RCPT, strict waits", func(t *testing.T) {
		marker := fmt.Sprintf("peer-mixed-%x", time.Now().UnixNano())
		mail := peerMail("alice@a.example", "mia@m.example", marker)
		if err := p.sendA("alice@a.example", "mia@m.example", mail); err != nil {
			t.Fatalf("A's MX, mixed domain with its gateway down: %v, want 250 (SMTP fallback)", err)
		}
		if got := stripTrace(p.internet.wait(t, marker, 60*time.Second).crlf()); got != mail {
			t.Errorf("m.example's MX got, apart from trace fields:\n%q\nwant\n%q", got, mail)
		}
		if !p.a.gw.logContains("the domain publishes policy=mixed: this recipient goes over SMTP") {
			t.Error("A did not log the fallback")
		}
		err := p.sendA("alice@a.example", "sam@s.example", peerMail("alice@a.example", "sam@s.example", marker+"-strict"))
		var se *textproto.Error
		if !errors.As(err, &se) || se.Code != 451 {
			t.Errorf("A's MX, strict domain with its gateway down: %v, want 451 (never SMTP)", err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		// A speaks only for its own domains: a foreign envelope sender is
		// refused at RCPT.
		err := p.sendA("ceo@b.example", "bob@b.example", peerMail("ceo@b.example", "bob@b.example", "forged"))
		if err == nil || !strings.Contains(err.Error(), "5.7.1") {
			t.Errorf("foreign envelope sender domain: %v, want 550 5.7.1", err)
		}
		// A claims c.example, whose record names another gateway: B refuses
		// the transfer (5.7.1), A bounces, nothing reaches B's MTA.
		forged := fmt.Sprintf("forged-%x", time.Now().UnixNano())
		if err := p.sendA("ceo@c.example", "carol@b.example", peerMail("ceo@c.example", "carol@b.example", forged)); err != nil {
			t.Fatalf("A refused a sender it thinks is local: %v", err)
		}
		waitLog(t, p.b.gw, "refused: sender domain's record names another gateway", 30*time.Second)
		waitLog(t, p.a.gw, "5.7.1 sender domain c.example is not served by mail.a.example", 30*time.Second)
		// B's record names a key its component does not serve: refused at
		// RCPT (the peer failed verification).
		p.publish(t, p.b, newUserKey(t, "xmpp:impostor@b.example"))
		waitRcpt(t, p, "bob@b.example", "5.7.1")
		p.publish(t, p.b, p.b.key)
		waitRcpt(t, p, "bob@b.example", "")
		// A's record disappears: B no longer knows the sending gateway and
		// refuses the transfer; A bounces. Then a marker sent after the
		// record is back arrives alone.
		p.dns.Remove("_passerelle.a.example")
		time.Sleep(1100 * time.Millisecond) // the record's one-second DNS TTL at A and B
		lost := fmt.Sprintf("unknown-gw-%x", time.Now().UnixNano())
		if err := p.sendA("alice@a.example", "carol@b.example", peerMail("alice@a.example", "carol@b.example", lost)); err != nil {
			t.Fatalf("A refused: %v", err)
		}
		waitLog(t, p.b.gw, "refused: sender domain publishes no record", 30*time.Second)
		p.publish(t, p.a, p.a.key)
		after := fmt.Sprintf("after-%x", time.Now().UnixNano())
		time.Sleep(1100 * time.Millisecond)
		if err := p.sendA("alice@a.example", "carol@b.example", peerMail("alice@a.example", "carol@b.example", after)); err != nil {
			t.Fatalf("A refused: %v", err)
		}
		p.mta.wait(t, after, 60*time.Second)
		for _, c := range p.mta.all() {
			if strings.Contains(c.message, lost) || strings.Contains(c.message, forged) {
				t.Fatal("mail from an unknown gateway, or for a forged sender domain, was delivered")
			}
		}
	})

	t.Run("key change held until accepted", func(t *testing.T) { testKeyChange(t, p) })

	t.Run("B's Passerelle killed", func(t *testing.T) {
		testOutage(t, p, "kill", 200, func() { p.b.gw.stop(syscall.SIGKILL) }, func() { p.b.gw.start() })
	})

	t.Run("Prosody B stopped", func(t *testing.T) {
		testOutage(t, p, "prosody", 200, func() {
			if err := p.b.srv.Stop(); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := p.b.srv.StartAgain(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// testKeyChange: B gets a new domain key and publishes it; A, which
// pinned the old one on first use, holds mail for b.example (4xx at RCPT)
// and `passerelle peers list` says why; after `peers accept` it flows.
func testKeyChange(t *testing.T, p *peerPair) {
	p.b.gw.stop(syscall.SIGTERM)
	keysDir := filepath.Join(p.b.gw.cfg.Dir, "keys")
	if err := os.Rename(keysDir, keysDir+".old"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "keys", "init", "-c", p.b.gw.path).CombinedOutput(); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	p.b.gw.start()
	old := p.b.key
	p.b.key = domainKeyOf(t, p.b.gw)
	if bytes.Equal(old.PrimaryKey.Fingerprint, p.b.key.PrimaryKey.Fingerprint) {
		t.Fatal("keys init made the same key")
	}
	p.publish(t, p.b, p.b.key)
	waitRcpt(t, p, "carol@b.example", "4.7.0")
	list, err := exec.Command(binary, "peers", "list", "-c", p.a.gw.path).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "b.example: HELD") ||
		!strings.Contains(strings.ToLower(string(list)), strings.ToLower(fmt.Sprintf("%x", p.b.key.PrimaryKey.Fingerprint))) {
		t.Fatalf("peers list does not show the held key change (%v):\n%s", err, list)
	}
	if out, err := exec.Command(binary, "peers", "accept", "-c", p.a.gw.path, "b.example").CombinedOutput(); err != nil {
		t.Fatalf("peers accept: %v\n%s", err, out)
	}
	waitRcpt(t, p, "carol@b.example", "")
	marker := fmt.Sprintf("after-accept-%x", time.Now().UnixNano())
	if err := p.sendA("alice@a.example", "carol@b.example", peerMail("alice@a.example", "carol@b.example", marker)); err != nil {
		t.Fatalf("A refused after accept: %v", err)
	}
	p.mta.wait(t, marker, 60*time.Second)
}

// testOutage: site B goes down while A keeps accepting (down() stops it,
// up() brings it back); every accepted mail reaches B's MTA, exactly once
// or as a duplicate with the same Message-ID; lost = 0.
func testOutage(t *testing.T, p *peerPair, name string, n int, down, up func()) {
	before := p.mta.count()
	first := sendMany(t, p, name+"-a", n/2) // B up: transfers in flight when it goes down
	down()
	second := sendMany(t, p, name+"-b", n-n/2)
	up()
	markers := append(first, second...)
	deadline := time.Now().Add(90 * time.Second)
	for {
		seen, lost, dups := p.mta.tally(name, markers)
		if lost == 0 {
			t.Logf("%s: %d accepted by A, %d delivered by B, lost 0, duplicates %d (%d transactions at the MTA)",
				name, len(markers), len(seen), dups, p.mta.count()-before)
			return
		}
		if time.Now().After(deadline) {
			for _, g := range []*gateway{p.a.gw, p.b.gw} {
				out, _ := exec.Command(binary, "queue", "list", "-c", g.path).CombinedOutput()
				t.Logf("queue of %s:\n%s", g.cfg.Domain, out)
				if dst := os.Getenv("PEER_DEBUG_DIR"); dst != "" {
					b, _ := os.ReadFile(filepath.Join(g.cfg.Dir, "passerelle.log"))
					os.WriteFile(filepath.Join(dst, g.cfg.Domain+".log"), b, 0o600)
				}
			}
			t.Logf("A's log, failures:\n%s", grepLog(p.a.gw, "failure", 10))
			t.Logf("B's log, refusals:\n%s", grepLog(p.b.gw, "refused", 10))
			t.Fatalf("%s: %d of %d accepted mails never reached B's MTA", name, lost, len(markers))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendMany submits n mails to carol@b.example over one SMTP session at A;
// each must be accepted (250), whatever the state of B.
func sendMany(t *testing.T, p *peerPair, prefix string, n int) []string {
	t.Helper()
	c, err := smtp.Dial(p.a.gw.cfg.MXAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	var markers []string
	for i := range n {
		m := fmt.Sprintf("%s-%04d-%x", prefix, i, time.Now().UnixNano())
		if err := c.Mail("alice@a.example"); err != nil {
			t.Fatalf("MAIL %d: %v", i, err)
		}
		if err := c.Rcpt("carol@b.example"); err != nil {
			t.Fatalf("RCPT %d: %v", i, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(peerMail("alice@a.example", "carol@b.example", m)))
		if err := w.Close(); err != nil {
			t.Fatalf("DATA %d: %v", i, err)
		}
		markers = append(markers, m)
	}
	return markers
}

// markerIn finds "Subject: peer NAME-…" in a captured message.
func markerIn(msg, name string) string {
	i := strings.Index(msg, "Subject: peer "+name+"-")
	if i < 0 {
		return ""
	}
	rest := msg[i+len("Subject: peer "):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return strings.TrimSpace(rest)
}

// waitRcpt retries RCPT at A (the records have a one-second TTL) until it
// answers with wantCode ("" = accepted).
func waitRcpt(t *testing.T, p *peerPair, rcpt, wantCode string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		c, err := smtp.Dial(p.a.gw.cfg.MXAddr)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Mail("alice@a.example")
		if err == nil {
			err = c.Rcpt(rcpt)
		}
		c.Quit()
		last = fmt.Sprint(err)
		if (wantCode == "" && err == nil) || (wantCode != "" && err != nil && strings.Contains(err.Error(), wantCode)) {
			return
		}
	}
	t.Fatalf("RCPT %s at A: last answer %s, want %q", rcpt, last, wantCode)
}

func waitLog(t *testing.T, g *gateway, s string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if g.logContains(s) {
			return
		}
	}
	t.Fatalf("no log line with %q within %v", s, d)
}

// stripTrace removes the trace fields the route adds at the top
// (Received, Authentication-Results, RFC 5321 §4.4 and RFC 8601), and the
// one CRLF the SMTP client adds... nothing else may differ.
func stripTrace(m string) string {
	for {
		name, _, ok := strings.Cut(m, ":")
		if !ok || (!strings.EqualFold(name, "Received") && !strings.EqualFold(name, "Authentication-Results")) {
			return m
		}
		// drop the field and its continuation lines
		i := strings.Index(m, "\r\n")
		for i >= 0 && i+2 < len(m) && (m[i+2] == ' ' || m[i+2] == '\t') {
			j := strings.Index(m[i+2:], "\r\n")
			if j < 0 {
				return ""
			}
			i += 2 + j
		}
		m = m[i+2:]
	}
}

// grepLog returns up to n lines of g's log containing s.
func grepLog(g *gateway, s string, n int) string {
	b, _ := os.ReadFile(filepath.Join(g.cfg.Dir, "passerelle.log"))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// grepTree returns the first file under dir containing s, or "".
func grepTree(t *testing.T, dir, s string) string {
	t.Helper()
	found := ""
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || found != "" || info.Size() > 64<<20 {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			found = path
		}
		return nil
	})
	return found
}
