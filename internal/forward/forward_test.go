package forward

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/policy"
)

type fakeKeys map[string]error // address -> error; nil error: use key

func (f fakeKeys) Resolve(_ context.Context, addr string) (keys.Result, error) {
	err, ok := f[addr]
	if !ok {
		return keys.Result{}, keys.ErrNoKey
	}
	return keys.Result{Key: testKey, Source: "fake"}, err
}

type fakePuppets struct{}

func (fakePuppets) PuppetKey(context.Context, string) (*openpgp.Entity, error) { return puppetKey, nil }

type fakeSpool struct {
	mu     sync.Mutex
	env    *queue.Envelope
	bodies [][]byte
	err    error
}

func (s *fakeSpool) Put(_ context.Context, env *queue.Envelope, bodies ...io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.env = env
	for _, b := range bodies {
		data, _ := io.ReadAll(b)
		s.bodies = append(s.bodies, data)
	}
	return nil
}

var (
	testKey, puppetKey = mustKey("alice@example.org"), mustKey(`xmpp:bob\40remote.example@mail.example.org`)
)

func mustKey(uid string) *openpgp.Entity {
	e, err := openpgp.NewEntity(uid, "", "", keys.GenConfig(time.Now(), rand.Reader))
	if err != nil {
		panic(err)
	}
	return e
}

func newTestForward(t *testing.T, k fakeKeys, sp *fakeSpool) *Forward {
	t.Helper()
	yes := true
	pol, err := policy.New(policy.Config{LocalDomains: []string{"example.org"},
		Directory: map[string]string{"moved@example.org": "moved@chat.example.org"},
		Senders: map[string][]string{"relay": {"*"}, "carol": {"carol@example.org", "@team.example"},
			"locked@example.org": {}},
		Addresses: map[string]policy.Rule{
			"open@example.org":   {Encryption: policy.EncryptOpportunistic},
			"notice@example.org": {NoKey: policy.NoKeyNotice},
			"plain@example.org":  {Encryption: policy.EncryptNone, ReversePlaintext: &yes},
			"legacy@example.org": {Route: policy.RouteSMTP},
		}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Policy: pol, Keys: k, Puppets: fakePuppets{}, Spool: sp,
		ComponentDomain: "mail.example.org", Hostname: "mx.example.org", Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRcpt(t *testing.T) {
	k := fakeKeys{"alice@example.org": nil, "moved@example.org": nil, "flaky@example.org": &keys.TemporaryError{Source: "pep", Err: errors.New("timeout")}}
	f := newTestForward(t, k, &fakeSpool{})
	for _, tc := range []struct {
		to       string
		wantCode int // 0: accepted
		wantKey  bool
	}{
		{"alice@example.org", 0, true},
		{"carol@example.org", 550, false},  // required, no key: refused at RCPT
		{"flaky@example.org", 451, false},  // temporary lookup failure
		{"open@example.org", 0, false},     // opportunistic, no key
		{"notice@example.org", 0, false},   // required, but policy allows a notice
		{"plain@example.org", 0, false},    // encryption none
		{"legacy@example.org", 550, false}, // route not served here
		{"moved@example.org", 0, true},     // the directory names another JID
		{"v@other.example", 550, false},    // not local: no relay
	} {
		t.Run(tc.to, func(t *testing.T) {
			route, err := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", tc.to)
			if tc.wantCode != 0 {
				if got := smtpd.SMTPError(err); got == nil || got.Code != tc.wantCode {
					t.Fatalf("Rcpt(%s) = %v, want %d", tc.to, got, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Rcpt(%s): %v", tc.to, err)
			}
			wantJID := strings.Replace(tc.to, "moved@example.org", "moved@chat.example.org", 1)
			if d := route.(*decision); (d.Key != nil) != tc.wantKey || d.JID != wantJID {
				t.Fatalf("decision = %+v", d)
			}
		})
	}
}

const testMail = "From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\nSubject: secret plans\r\n" +
	"Message-ID: <m1@remote.example>\r\n\r\nthe marker-xyzzy is here\r\n"

func accept(t *testing.T, f *Forward, rcpts ...string) error {
	t.Helper()
	env := &smtpd.Envelope{From: "bob@remote.example", Received: "Received: from x by y; now\r\n"}
	for _, r := range rcpts {
		route, err := f.Rcpt(context.Background(), &smtpd.Info{}, env.From, r)
		if err != nil {
			t.Fatalf("Rcpt(%s): %v", r, err)
		}
		env.Recipients = append(env.Recipients, smtpd.Recipient{Addr: r, Route: route})
	}
	return f.Accept(context.Background(), env, []byte(testMail))
}

func TestAcceptSpoolsOnlyCiphertextForKeyedRecipients(t *testing.T) {
	sp := &fakeSpool{}
	f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
	if err := accept(t, f, "alice@example.org", "open@example.org", "plain@example.org"); err != nil {
		t.Fatal(err)
	}
	rs := sp.env.Recipients
	if len(rs) != 3 || len(sp.bodies) != 2 {
		t.Fatalf("recipients %d, bodies %d; want 3 recipients sharing 2 bodies", len(rs), len(sp.bodies))
	}
	alice := rs[0]
	if alice.Params[ParamEnc] != "ox" || sp.env.Bodies[alice.Body].Kind != queue.BodyOpaque {
		t.Fatalf("alice's body is not opaque ciphertext: %+v", alice)
	}
	if bytes.Contains(sp.bodies[alice.Body], []byte("marker-xyzzy")) || bytes.Contains(sp.bodies[alice.Body], []byte("secret plans")) {
		t.Fatal("plaintext in alice's spooled body")
	}
	if rs[1].Body != rs[2].Body || rs[1].Params[ParamEnc] != "none" {
		t.Fatalf("plaintext recipients should share the one plain body: %+v %+v", rs[1], rs[2])
	}
	if rs[0].Params[ParamOriginID] == rs[1].Params[ParamOriginID] {
		t.Fatal("origin-ids must differ per recipient")
	}
	sc, err := ox.Open(sp.bodies[alice.Body], ox.OpenConfig{Keyring: openpgp.EntityList{testKey},
		Senders: openpgp.EntityList{puppetKey}, Recipient: "alice@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "secret plans" || !strings.Contains(p.Body, "marker-xyzzy") ||
		!bytes.HasSuffix(p.Mail.Raw, []byte(testMail)) || p.Thread == "" {
		t.Fatalf("payload = %+v", p)
	}
}

func TestAcceptErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spoolErr error
		mail     string
		wantCode int
	}{
		{"spool full", queue.ErrSpoolFull, testMail, 452},
		{"spool broken", queue.ErrTemporary, testMail, 451},
		{"too deep", nil, deepMIME(40), 554},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &fakeSpool{err: tc.spoolErr}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			route, _ := f.Rcpt(context.Background(), &smtpd.Info{}, "b@r.example", "alice@example.org")
			env := &smtpd.Envelope{From: "b@r.example", Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
			err := f.Accept(context.Background(), env, []byte(tc.mail))
			if got := smtpd.SMTPError(err); got == nil || got.Code != tc.wantCode {
				t.Fatalf("Accept = %v, want %d", got, tc.wantCode)
			}
		})
	}
}

func deepMIME(n int) string {
	var b strings.Builder
	b.WriteString("From: a@b.example\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < n; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\r\n\r\n--b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\r\n")
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nhi\r\n")
	return b.String()
}

type fakeSender struct {
	connected bool
	err       error
	sent      []xmpp.Message
}

func (s *fakeSender) Connected() bool { return s.connected }
func (s *fakeSender) Send(_ context.Context, m xmpp.Message) error {
	s.sent = append(s.sent, m)
	return s.err
}

func TestTargetClassifiesXMPPErrors(t *testing.T) {
	for _, tc := range []struct {
		name          string
		connected     bool
		err           error
		wantNil       bool
		wantPermanent bool
		wantStatus    string
		plain         bool // a plaintext delivery: no key was found, the user may not exist
	}{
		{"delivered", true, nil, true, false, "", false},
		{"link down", false, nil, false, false, "", false},
		{"unknown user", true, xmpp.Classify("service-unavailable", "cancel", ""), false, true, "5.1.1", true},
		{"known user: offline store full", true, xmpp.Classify("service-unavailable", "cancel", ""), false, false, "4.2.2", false},
		{"ejabberd: offline queue full", true, xmpp.Classify("resource-constraint", "wait",
			"Your contact offline message queue is full. The message has been discarded."), false, false, "4.2.2", true},
		{"forbidden", true, xmpp.Classify("forbidden", "auth", ""), false, true, "5.7.1", false},
		{"component down", true, xmpp.Classify("remote-server-timeout", "wait", "Component unavailable"), false, false, "4.4.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &fakeSender{connected: tc.connected, err: tc.err}
			tg := &Target{Sender: s}
			d := &queue.Delivery{Recipient: queue.Recipient{Params: map[string]string{
				ParamJID: "alice@example.org", ParamFrom: `bob\40remote.example@mail.example.org`,
				ParamOriginID: "o1", ParamEnc: "ox"}},
				Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("ct")), nil }}
			if tc.plain {
				d.Recipient.Params[ParamEnc] = "none"
				d.Open = func(context.Context) (io.ReadCloser, error) {
					return io.NopCloser(strings.NewReader("Subject: x\r\n\r\nhi\r\n")), nil
				}
			}
			err := tg.Deliver(context.Background(), d)
			if (err == nil) != tc.wantNil || queue.IsPermanent(err) != tc.wantPermanent {
				t.Fatalf("Deliver = %v (permanent %v)", err, queue.IsPermanent(err))
			}
			if diag, ok := queue.DiagnosticOf(err); tc.wantStatus != "" && (!ok || diag.Status != tc.wantStatus) {
				t.Fatalf("diagnostic = %+v, want status %s", diag, tc.wantStatus)
			}
			if tc.connected && (len(s.sent) != 1 || s.sent[0].ID != "o1") {
				t.Fatalf("sent = %+v; the stanza id must be the stored origin-id", s.sent)
			}
		})
	}
}

// TestRcptUnknownUser: with a user list, a local address not in it gets
// 550 5.1.1 and no key lookup; without one, 550 5.7.1 (no usable key).
func TestRcptUnknownUser(t *testing.T) {
	pol, err := policy.New(policy.Config{LocalDomains: []string{"example.org"}, Users: []string{"alice@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	k := &countingKeys{fakeKeys: fakeKeys{"alice@example.org": nil}}
	f, err := New(Config{Policy: pol, Keys: k, Puppets: fakePuppets{}, Spool: &fakeSpool{},
		ComponentDomain: "mail.example.org", Hostname: "mx.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "nobody@example.org")
	if got := smtpd.SMTPError(err); got == nil || got.Code != 550 || got.EnhancedCode != [3]int{5, 1, 1} {
		t.Fatalf("unknown user: %v, want 550 5.1.1", got)
	}
	if k.n != 0 {
		t.Errorf("%d key lookups for an unknown user", k.n)
	}
	if _, err := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "alice@example.org"); err != nil {
		t.Fatalf("listed user: %v", err)
	}
	open := newTestForward(t, fakeKeys{}, &fakeSpool{})
	_, err = open.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "nobody@example.org")
	if got := smtpd.SMTPError(err); got == nil || got.EnhancedCode != [3]int{5, 7, 1} {
		t.Fatalf("without a user list: %v, want 550 5.7.1", got)
	}
}

type countingKeys struct {
	fakeKeys
	mu sync.Mutex
	n  int
}

func (c *countingKeys) Resolve(ctx context.Context, addr string) (keys.Result, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.fakeKeys.Resolve(ctx, addr)
}

func (fakeKeys) Cached(string) bool { return false }

// drainUploader reads each upload to its end, keeping only its size.
type drainUploader struct{ sizes []int64 }

func (u *drainUploader) Upload(_ context.Context, r io.Reader, size int64) (string, error) {
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != size {
		return "", fmt.Errorf("upload of %d bytes, %d read: %v", size, n, err)
	}
	u.sizes = append(u.sizes, n)
	return "https://upload.example.org/slot/x/mail.eml", nil
}

// TestAcceptLargeMailAllocates is the forward path's memory guard (issue
// 11): a 25 MB mail to a keyed recipient goes by upload while Accept
// allocates no more than one copy (Prepend's, here) and a tenth of the
// mail (it used to allocate its base64 twice and its blob as well: about
// 165 MB). Allocations, not time or RSS: the
// count is the same under load and under the race detector.
func TestAcceptLargeMailAllocates(t *testing.T) {
	sp := &fakeSpool{}
	f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
	up := &drainUploader{}
	f.cfg.Uploader = up
	att := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\r\n"), 25<<20/66)
	mail := []byte("From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		string(att) + "--b--\r\n")
	env := &smtpd.Envelope{From: "bob@remote.example", Received: "Received: from x by y; now\r\n"}
	route, err := f.Rcpt(context.Background(), &smtpd.Info{}, env.From, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	env.Recipients = []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = f.Accept(context.Background(), env, mail)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.sizes) != 1 || up.sizes[0] < int64(len(mail)) {
		t.Fatalf("uploads %v for a mail of %d bytes", up.sizes, len(mail))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Accept of a %d-byte mail allocated %d bytes", len(mail), alloc)
	// One copy is Envelope.Prepend's: this test has no smtpd read buffer
	// with room in front of the mail (gateway/smtpd tests that it copies
	// nothing there). Anything more than a tenth of the mail beyond it is
	// a copy that should not be made.
	if limit := uint64(len(mail) + len(mail)/10); alloc > limit {
		t.Fatalf("Accept of a %d-byte mail allocated %d bytes, more than %d: a copy of the mail is back", len(mail), alloc, limit)
	}
}
