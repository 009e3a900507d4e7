package reverse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/policy"
)

const (
	component = "mail.example.org"
	bobPuppet = `bob\40remote.example@mail.example.org`
)

func mustKey(uid string) *openpgp.Entity {
	e, err := openpgp.NewEntity(uid, "", "", keys.GenConfig(time.Now(), rand.Reader))
	if err != nil {
		panic(err)
	}
	return e
}

// keyset is made once: key generation is the slow part of these tests.
var keyset = struct {
	alice, mallory, puppet, domain, bob *openpgp.Entity
}{mustKey("xmpp:alice@example.org"), mustKey("xmpp:mallory@example.org"), mustKey("xmpp:" + bobPuppet),
	mustKey("xmpp:" + component), mustKey("bob@keyed.example")}

type fakeResolver map[string]*openpgp.Entity

func (f fakeResolver) Resolve(_ context.Context, addr string) (keys.Result, error) {
	if e, ok := f[addr]; ok {
		return keys.Result{Key: e, Source: "fake"}, nil
	}
	return keys.Result{}, keys.ErrNoKey
}

type fakeKeys struct{}

func (fakeKeys) PuppetKey(context.Context, string) (*openpgp.Entity, error) {
	return keyset.puppet, nil
}
func (fakeKeys) DomainKey() (*openpgp.Entity, error) { return keyset.domain, nil }

type fakeSpool struct {
	mu     sync.Mutex
	envs   []*queue.Envelope
	bodies [][]byte
}

func (s *fakeSpool) Put(_ context.Context, env *queue.Envelope, bodies ...io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	env.ID = "q" + string(rune('0'+len(s.envs)))
	s.envs = append(s.envs, env)
	b, _ := io.ReadAll(bodies[0])
	s.bodies = append(s.bodies, b)
	return nil
}

type fakeSender struct {
	mu     sync.Mutex
	sent   []sentMsg
	writes int // of sent, how many by Write
	err    error
}

type sentMsg struct {
	xmpp.Message
	xml string
}

func (s *fakeSender) Connected() bool { return true }

func (s *fakeSender) Write(ctx context.Context, m xmpp.Message) error {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return s.Send(ctx, m)
}

func (s *fakeSender) Send(_ context.Context, m xmpp.Message) error {
	var b bytes.Buffer
	if m.Payload != nil {
		enc := xml.NewEncoder(&b)
		for {
			tok, err := m.Payload.Token()
			if err != nil {
				break
			}
			enc.EncodeToken(tok)
		}
		enc.Flush()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, sentMsg{Message: m, xml: b.String()})
	return s.err
}

type fixture struct {
	rv     *Reverse
	spool  *fakeSpool
	sender *fakeSender
}

func newFixture(t *testing.T, lim Limits, threads ThreadLookup, opts ...func(*Config)) *fixture {
	t.Helper()
	yes := true
	pol, err := policy.New(policy.Config{LocalDomains: []string{"example.org"},
		Domains: map[string]policy.Rule{"remote.example": {ReversePlaintext: &yes}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{spool: &fakeSpool{}, sender: &fakeSender{}}
	cfg := Config{Policy: pol,
		SenderKeys:    fakeResolver{"alice@example.org": keyset.alice},
		RecipientKeys: fakeResolver{"bob@keyed.example": keyset.bob},
		Keys:          fakeKeys{}, Spool: f.spool, XMPP: f.sender, Threads: threads,
		ComponentDomain: component, Hostname: "mx.example.org", Limits: lim, Log: zap.NewNop()}
	for _, o := range opts {
		o(&cfg)
	}
	f.rv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// deliver feeds one stanza through Handle and runs what it queued.
func (f *fixture) deliver(t *testing.T, raw string) {
	t.Helper()
	f.handle(t, raw)
	select {
	case in := <-f.rv.jobs:
		f.rv.safely(context.Background(), in, f.rv.process)
	case in := <-f.rv.refuseLocal:
		f.rv.safely(context.Background(), in, f.rv.replyRefusal)
	case in := <-f.rv.refuseForeign:
		f.rv.safely(context.Background(), in, f.rv.replyRefusal)
	default:
	}
}

// handle feeds one stanza through Handle only.
func (f *fixture) handle(t *testing.T, raw string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	msg, err := stanza.NewMessage(start)
	if err != nil {
		t.Fatal(err)
	}
	r := &prepend{first: start, rest: d}
	if err := f.rv.Handle(context.Background(), msg, r); err != nil {
		t.Fatal(err)
	}
}

type prepend struct {
	first xml.Token
	done  bool
	rest  xml.TokenReader
}

func (p *prepend) Token() (xml.Token, error) {
	if !p.done {
		p.done = true
		return p.first, nil
	}
	return p.rest.Token()
}

// last is the last stanza sent, or fails.
func (f *fixture) last(t *testing.T) sentMsg {
	t.Helper()
	if len(f.sender.sent) == 0 {
		t.Fatal("nothing sent back")
	}
	return f.sender.sent[len(f.sender.sent)-1]
}

func stanzaXML(from, to, id, children string) string {
	return "<message xmlns='jabber:component:accept' from='" + from + "' to='" + to + "' id='" + id +
		"' type='chat'>" + children + "</message>"
}
