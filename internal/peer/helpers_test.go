package peer

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
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

type fakeRecords struct {
	mu   sync.Mutex
	recs map[string]Record
	err  error
}

func (f *fakeRecords) Lookup(_ context.Context, d string) (Record, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Record{}, false, f.err
	}
	r, ok := f.recs[d]
	return r, ok, nil
}

func (f *fakeRecords) set(d string, r Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[d] = r
}

type fakeTrust struct {
	mu      sync.Mutex
	verdict map[string]Verdict
}

func (f *fakeTrust) Check(_ context.Context, d string, _ Record, _ []byte) (Verdict, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.verdict[d]
	if v == Hold {
		return v, "key changed", nil
	}
	return v, "test", nil
}

// fakeLocal is the local forward path of site B.
type fakeLocal struct {
	mu      sync.Mutex
	refuse  map[string]error // by address
	failing error            // Accept error
	got     []*smtpd.Envelope
	data    [][]byte
}

func (f *fakeLocal) Rcpt(_ context.Context, _ *smtpd.Info, _, to string) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse[to]; err != nil {
		return nil, err
	}
	return "xmpp", nil
}

func (f *fakeLocal) Accept(_ context.Context, env *smtpd.Envelope, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return f.failing
	}
	f.got, f.data = append(f.got, env), append(f.data, data)
	return nil
}

func (f *fakeLocal) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// net is a fake federation: IQs go to the handler of the addressed
// component, with the sender's JID as from.
type fakeNet struct {
	mu       sync.Mutex
	sites    map[string]*site
	transfer int // transfers sent
}

type site struct {
	jid      jid.JID
	pub      *Publisher
	receiver *Receiver
}

type linkOf struct {
	n    *fakeNet
	from jid.JID
}

func (l linkOf) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	l.n.mu.Lock()
	s := l.n.sites[iq.To.String()]
	l.n.mu.Unlock()
	if s == nil {
		return nil, &xmpp.Error{Condition: "remote-server-not-found", Type: "cancel", Transient: true}
	}
	iq.From = l.from
	start, _ := payload.Token()
	payload = xmlMulti(start.(xml.StartElement), payload)
	var resp xml.TokenReader
	var err error
	switch {
	case iq.Type == stanza.GetIQ && s.pub != nil:
		resp, err = s.pub.handleKey(ctx, iq, payload)
	case iq.Type == stanza.SetIQ && s.receiver != nil:
		l.n.mu.Lock()
		l.n.transfer++
		l.n.mu.Unlock()
		resp, err = s.receiver.handle(ctx, iq, payload)
	default:
		return nil, &xmpp.Error{Condition: "service-unavailable", Type: "cancel"}
	}
	var se stanza.Error
	if errors.As(err, &se) {
		txt := ""
		for _, v := range se.Text {
			txt = v
		}
		return nil, &xmpp.Error{Condition: string(se.Condition), Type: string(se.Type), Text: txt, Transient: se.Type == stanza.Wait}
	}
	return resp, err
}

func xmlMulti(start xml.StartElement, rest xml.TokenReader) xml.TokenReader {
	return &prepend{first: start, rest: rest}
}

type prepend struct {
	first xml.Token
	rest  xml.TokenReader
}

func (p *prepend) Token() (xml.Token, error) {
	if p.first != nil {
		t := p.first
		p.first = nil
		return t, nil
	}
	return p.rest.Token()
}

// fixture: site A (a.example, mail.a.example) sends to site B.
type fixture struct {
	net            *fakeNet
	aKey, bKey     *openpgp.Entity
	records        *fakeRecords
	trust          *fakeTrust
	local          *fakeLocal
	route          *Route
	target         *Target
	dedupDir       string
	receiver       *Receiver
	discoveryA     *Discovery
	policyA        *policy.Policy
	linkA          linkOf
	deliveredBodys [][]byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{net: &fakeNet{sites: map[string]*site{}}, aKey: domainKey(t, "mail.a.example"),
		bKey: domainKey(t, "mail.b.example"), trust: &fakeTrust{verdict: map[string]Verdict{}},
		local: &fakeLocal{refuse: map[string]error{}}, dedupDir: t.TempDir()}
	f.records = &fakeRecords{recs: map[string]Record{
		"a.example": {JID: "mail.a.example", Fingerprint: Fingerprint(f.aKey)},
		"b.example": {JID: "mail.b.example", Fingerprint: Fingerprint(f.bKey)},
	}}
	f.linkA = linkOf{n: f.net, from: jid.MustParse("mail.a.example")}
	linkB := linkOf{n: f.net, from: jid.MustParse("mail.b.example")}
	var err error
	f.discoveryA, err = NewDiscovery(DiscoveryConfig{Records: f.records, Trust: f.trust, IQ: f.linkA})
	if err != nil {
		t.Fatal(err)
	}
	discoveryB, err := NewDiscovery(DiscoveryConfig{Records: f.records, Trust: f.trust, IQ: linkB})
	if err != nil {
		t.Fatal(err)
	}
	f.policyA, _ = policy.New(policy.Config{LocalDomains: []string{"a.example"}})
	policyB, _ := policy.New(policy.Config{LocalDomains: []string{"b.example"}})
	f.route, err = NewRoute(RouteConfig{Peers: f.discoveryA, Policy: f.policyA, Self: "mail.a.example", Key: f.aKey,
		Domains: []string{"a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	f.target, err = NewTarget(TargetConfig{Peers: f.discoveryA, IQ: f.linkA})
	if err != nil {
		t.Fatal(err)
	}
	dd, err := OpenDedup(f.dedupDir, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.receiver, err = NewReceiver(ReceiverConfig{Self: "mail.b.example", Key: f.bKey, Records: f.records,
		Trust: f.trust, Keys: discoveryB, Policy: policyB, Local: f.local, Dedup: dd, Hostname: "mx.b.example"})
	if err != nil {
		t.Fatal(err)
	}
	pubA, _ := NewPublisher(f.aKey, []string{"a.example"})
	pubB, _ := NewPublisher(f.bKey, []string{"b.example"})
	f.net.sites["mail.a.example"] = &site{jid: f.linkA.from, pub: pubA}
	f.net.sites["mail.b.example"] = &site{jid: linkB.from, pub: pubB, receiver: f.receiver}
	return f
}

const testInner = `<subject xmlns='jabber:client'>peer</subject><body xmlns='jabber:client'>hello over XMPP</body>`

const testMail = "From: alice@a.example\r\nTo: bob@b.example\r\nSubject: peer\r\nMessage-ID: <m1@a.example>\r\n\r\nhello over XMPP\r\n"

// submit runs RCPT and Seal at site A, as forward.Accept would.
func (f *fixture) submit(t *testing.T, from string, rcpts ...string) *queue.Envelope {
	t.Helper()
	ctx := context.Background()
	info := &smtpd.Info{Mode: smtpd.ModeSubmission, AuthUser: "alice"}
	env := &smtpd.Envelope{Session: *info, From: from}
	for _, r := range rcpts {
		route, err := f.route.Rcpt(ctx, info, from, r)
		if err != nil {
			t.Fatalf("Rcpt %s: %v", r, err)
		}
		env.Recipients = append(env.Recipients, smtpd.Recipient{Addr: r, Route: route})
	}
	qrs, bodies, err := f.route.Seal(ctx, env, []byte(testMail), []byte(testInner), env.Recipients)
	if err != nil {
		t.Fatal(err)
	}
	f.deliveredBodys = bodies
	return &queue.Envelope{ID: "q1", From: from, Recipients: qrs}
}

// deliver runs the Target for recipient i of qe.
func (f *fixture) deliver(qe *queue.Envelope, i int) error {
	r := qe.Recipients[i]
	body := f.deliveredBodys[r.Body]
	d := &queue.Delivery{ID: qe.ID, From: qe.From, Recipient: r,
		Open: func(context.Context) (ioReadCloser, error) { return nopCloser{strings.NewReader(string(body))}, nil }}
	return f.target.Deliver(context.Background(), d)
}
