package relay

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/relaymsg"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/peer"
	"passerelle/policy"
)

var keyTime = time.Now().Add(-time.Hour)

func domainKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := keys.GenerateDomainKey(name, keyTime)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const (
	hubJID    = "mail.hub.example"
	clientJID = "home@hub.example"
	session   = "home@hub.example/passerelle"
)

// site is a hub and one relay client wired through fake links that call
// each other's handlers as the XMPP server would route the IQs.
type site struct {
	hub       *Hub
	client    *Client
	hubKey    *openpgp.Entity
	clientKey *openpgp.Entity
	spool     *fakeSpool // the hub's
	local     *fakeLocal // the client's forward path
	rcv       *peer.Receiver
	hubRC     HubReceiverConfig
	toClient  *fakeLink // the hub's component
	toHub     *fakeLink // the client's c2s link
	dir       string
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{hubKey: domainKey(t, hubJID), clientKey: domainKey(t, clientJID), spool: &fakeSpool{},
		local: &fakeLocal{}, dir: t.TempDir()}
	s.toHub = &fakeLink{from: session}
	s.toClient = &fakeLink{from: hubJID}
	var err error
	s.hub, err = NewHub(HubConfig{Self: hubJID, Key: s.hubKey, KeyDir: s.dir + "/clients", OutRoute: "smtp",
		Hostname: "mx.hub.example", Clients: []ClientConfig{{JID: clientJID, Domains: []string{"home.example"},
			Fingerprint: fingerprint(s.clientKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(policy.Config{LocalDomains: []string{"home.example"}, Global: policy.Rule{Route: policy.RouteSMTP}})
	if err != nil {
		t.Fatal(err)
	}
	s.client, err = NewClient(ClientSideConfig{Self: clientJID, Hub: hubJID, HubFingerprint: fingerprint(s.hubKey),
		HubKeyFile: s.dir + "/hub.pgp", Key: s.clientKey, Link: s.toHub, Policy: pol, Domains: []string{"home.example"},
		Bound: func() jid.JID { return jid.MustParse(session) }})
	if err != nil {
		t.Fatal(err)
	}
	dd, err := peer.OpenDedup(s.dir+"/hub-dedup", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.hubRC = HubReceiverConfig{Spool: s.spool, Dedup: dd}
	cd, err := peer.OpenDedup(s.dir+"/client-dedup", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs, trust, disc, err := s.client.ReceiverParts()
	if err != nil {
		t.Fatal(err)
	}
	if s.rcv, err = peer.NewReceiver(peer.ReceiverConfig{Self: clientJID, Key: s.clientKey, Records: recs, Trust: trust,
		Keys: disc, Policy: pol, Local: s.local, Dedup: cd}); err != nil {
		t.Fatal(err)
	}
	s.toHub.handlers = map[string]xmpp.IQHandler{
		"hello": s.hub.handleHello,
		"mail": func(ctx context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
			return s.hub.handleTransfer(ctx, s.hubRC, iq, p)
		},
	}
	s.toClient.handlers = map[string]xmpp.IQHandler{"mail": s.client.SignAcks(s.rcv.Handle)}
	s.toClient.online = func(to jid.JID) bool { return s.toHub.up && to.String() == session }
	return s
}

// connect brings the client's link up and says hello.
func (s *site) connect(t *testing.T) {
	t.Helper()
	s.toHub.up = true
	if err := s.client.hello(s.toHub.ctx()); err != nil {
		t.Fatalf("hello: %v", err)
	}
}

// fakeLink routes IQs to handlers by payload name, as the server would;
// a stanza error becomes an *xmpp.Error as bridge/xmpp returns it.
type fakeLink struct {
	mu       sync.Mutex
	from     string
	handlers map[string]xmpp.IQHandler
	online   func(jid.JID) bool // nil: always
	up       bool
	cancel   context.CancelFunc
	sessCtx  context.Context
	sent     int
}

func (l *fakeLink) ctx() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessCtx == nil || l.sessCtx.Err() != nil {
		l.sessCtx, l.cancel = context.WithCancel(context.Background())
	}
	return l.sessCtx
}

func (l *fakeLink) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = false
	if l.cancel != nil {
		l.cancel()
	}
}

func (l *fakeLink) IQ(ctx context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
	if l.online != nil && !l.online(iq.To) {
		return nil, xmpp.Classify("service-unavailable", "cancel", "")
	}
	toks, err := collect(p)
	if err != nil {
		return nil, err
	}
	start := toks[0].(xml.StartElement)
	h := l.handlers[start.Name.Local]
	if h == nil {
		return nil, xmpp.Classify("service-unavailable", "cancel", "")
	}
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	from, _ := jid.Parse(l.from)
	iq.From = from
	r, err := h(ctx, iq, xmpp.Tokens(toks...))
	var se stanza.Error
	if errors.As(err, &se) {
		return nil, xmpp.Classify(string(se.Condition), string(se.Type), se.Text[""])
	}
	if err != nil || r == nil {
		return xmpp.Tokens(), err
	}
	out, err := collect(r)
	return xmpp.Tokens(out...), err
}

func collect(r xml.TokenReader) ([]xml.Token, error) {
	var toks []xml.Token
	for {
		t, err := r.Token()
		if err == io.EOF {
			return toks, nil
		}
		if err != nil {
			return nil, err
		}
		toks = append(toks, xml.CopyToken(t))
	}
}

// fakeSpool is the hub's queue.
type fakeSpool struct {
	mu     sync.Mutex
	envs   []*queue.Envelope
	bodies [][]byte
	err    error
}

func (f *fakeSpool) Put(_ context.Context, env *queue.Envelope, bodies ...io.Reader) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for _, b := range bodies {
		data, _ := io.ReadAll(b)
		f.bodies = append(f.bodies, data)
	}
	f.envs = append(f.envs, env)
	return nil
}

func (f *fakeSpool) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.envs)
}

// fakeLocal is the client's forward path: it takes every local recipient.
type fakeLocal struct {
	mu   sync.Mutex
	got  []*smtpd.Envelope
	data [][]byte
}

func (f *fakeLocal) Rcpt(_ context.Context, _ *smtpd.Info, _, to string) (any, error) {
	return "mta", nil
}

func (f *fakeLocal) Accept(_ context.Context, env *smtpd.Envelope, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, env)
	f.data = append(f.data, append([]byte(nil), data...))
	return nil
}

func (f *fakeLocal) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// delivery is a queue delivery of body for one spooled recipient.
func delivery(id string, r queue.Recipient, body []byte, kind queue.BodyKind) *queue.Delivery {
	return &queue.Delivery{ID: id, From: "bob@far.example", Recipient: r, Body: queue.Body{Kind: kind, Size: int64(len(body))},
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }}
}

func mailFrom(from, to, marker string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: relay test\r\nMessage-ID: <" + marker + "@x>\r\n\r\n" +
		"Hello " + marker + "\r\n")
}

func hasMarker(b []byte, m string) bool { return strings.Contains(string(b), m) }

func iqTo(to string) stanza.IQ {
	j, _ := jid.Parse(to)
	return stanza.IQ{To: j, Type: stanza.SetIQ}
}

func helloOf(t *testing.T, k *openpgp.Entity) []xml.Token {
	pub, err := serializePublic(k)
	if err != nil {
		t.Fatal(err)
	}
	return relaymsg.Hello{Key: pub}.Tokens(fingerprint(k))
}

func isCondition(err error, cond string) bool {
	var xe *xmpp.Error
	return errors.As(err, &xe) && xe.Condition == cond
}

type iqFunc func() error

func (f iqFunc) IQ(context.Context, stanza.IQ, xml.TokenReader) (xml.TokenReader, error) {
	return nil, f()
}

func mustPolicy(t *testing.T, domains ...string) *policy.Policy {
	pol, err := policy.New(policy.Config{LocalDomains: domains, Global: policy.Rule{Route: policy.RouteSMTP}})
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// replayLink sends through another session (a hello signed for one
// session replayed from another).
type replayLink struct{ to *fakeLink }

func (r *replayLink) IQ(ctx context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
	return r.to.IQ(ctx, iq, p)
}
