package peer

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/peermsg"
	"passerelle/gateway/queue"
	"passerelle/internal/forward"
)

type fakeRcptKeys map[string]*openpgp.Entity

func (f fakeRcptKeys) Resolve(_ context.Context, addr string) (keys.Result, error) {
	if k, ok := f[addr]; ok {
		return keys.Result{Key: k}, nil
	}
	return keys.Result{}, keys.ErrNoKey
}

type fakeSpool struct {
	mu     sync.Mutex
	envs   []*queue.Envelope
	bodies [][]byte
}

func (s *fakeSpool) Put(_ context.Context, env *queue.Envelope, bodies ...io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.envs = append(s.envs, env)
	for _, b := range bodies {
		d, _ := io.ReadAll(b)
		s.bodies = append(s.bodies, d)
	}
	return nil
}

// TestEndToEndSealed: a recipient whose own key the sender found gets a
// signcrypt only that key opens; the peer gateway spools it unopened for
// its XMPP target. When every recipient has one, the transfer carries no
// message the peer could read; otherwise the others get it as usual.
func TestEndToEndSealed(t *testing.T) {
	bobKey := domainKey(t, "bob@b.example") // any key pair
	for _, tc := range []struct {
		name      string
		rcpts     []string
		wantMail  bool // the peer can read the message
		wantLocal int  // recipients through the local path
	}{
		{"every recipient end to end", []string{"bob@b.example"}, false, 0},
		{"mixed", []string{"bob@b.example", "carol@b.example"}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			sp := &fakeSpool{}
			f.route.cfg.RcptKeys = fakeRcptKeys{"bob@b.example": bobKey}
			f.receiver.cfg.Spool, f.receiver.cfg.ComponentDomain = sp, "mail.b.example"
			qe := f.submit(t, "alice@a.example", tc.rcpts...)
			env, err := peermsg.Open(f.deliveredBodys[0], peermsg.OpenConfig{Self: "mail.b.example", Keys: f.bKey,
				Sender: publicOf(t, f.aKey)})
			if err != nil {
				t.Fatal(err)
			}
			if (env.Mail != nil) != tc.wantMail || len(env.Sealed) != 1 {
				t.Fatalf("envelope: mail %v, %d sealed; want mail %v, 1 sealed", env.Mail != nil, len(env.Sealed), tc.wantMail)
			}
			for i := range qe.Recipients {
				if err := f.deliver(qe, i); err != nil {
					t.Fatalf("recipient %d: %v", i, err)
				}
			}
			if len(sp.envs) != 1 || len(sp.envs[0].Recipients) != 1 {
				t.Fatalf("spooled %+v, want bob's sealed copy", sp.envs)
			}
			r := sp.envs[0].Recipients[0]
			if r.Route != forward.RouteXMPP || r.Params[forward.ParamEnc] != "ox" || r.Params[forward.ParamJID] != "bob@b.example" ||
				r.Params[forward.ParamFrom] != `alice\40a.example@mail.b.example` {
				t.Fatalf("spooled recipient %+v", r)
			}
			sc, err := ox.Open(sp.bodies[0], ox.OpenConfig{Keyring: openpgp.EntityList{bobKey},
				Senders: openpgp.EntityList{publicOf(t, f.aKey)}, Recipient: "bob@b.example", Now: time.Now()})
			if err != nil || !strings.Contains(string(sc.Payload), "hello over XMPP") {
				t.Fatalf("bob opens his copy: %v", err)
			}
			if _, err := ox.Open(sp.bodies[0], ox.OpenConfig{Keyring: openpgp.EntityList{f.bKey},
				Senders: openpgp.EntityList{publicOf(t, f.aKey)}, Recipient: "bob@b.example"}); err == nil {
				t.Fatal("the peer gateway's key opens bob's copy")
			}
			got := 0
			if f.local.accepted() > 0 {
				got = len(f.local.got[0].Recipients)
			}
			if got != tc.wantLocal {
				t.Fatalf("%d recipients through the local path, want %d", got, tc.wantLocal)
			}
		})
	}
}

func publicOf(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(&b)
	if err != nil {
		t.Fatal(err)
	}
	return el[0]
}

// TestDSNToPeerSealedAtDelivery: a DSN for a sender at a peer site is
// spooled in clear by the queue and goes over the peer route, sealed at
// delivery, from the null sender; a retry keeps its transfer id, so the
// peer stores it once.
func TestDSNToPeerSealedAtDelivery(t *testing.T) {
	f := newFixture(t)
	f.target.cfg.Sealer = f.route
	dsn := "From: Mail Delivery System <postmaster@a.example>\r\nTo: bob@b.example\r\nSubject: Undelivered Mail\r\n\r\nfailed\r\n"
	d := &queue.Delivery{ID: queue.NewID(), From: "", IsDSN: true, Body: queue.Body{Kind: queue.BodyMessage},
		Recipient: queue.Recipient{Addr: "bob@b.example", Route: RouteName, Params: map[string]string{ParamDomain: "b.example"}},
		Open:      func(context.Context) (io.ReadCloser, error) { return nopCloser{strings.NewReader(dsn)}, nil }}
	if err := f.target.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	f.target, _ = NewTarget(TargetConfig{Peers: f.discoveryA, IQ: f.linkA, Sealer: f.route})
	if err := f.target.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if f.local.accepted() != 1 || f.local.got[0].From != "" || !strings.HasSuffix(string(f.local.data[0]), dsn) {
		t.Fatalf("peer stored %d: %+v", f.local.accepted(), f.local.got)
	}
	// Without a sealer the target cannot send clear mail to a peer.
	f.target, _ = NewTarget(TargetConfig{Peers: f.discoveryA, IQ: f.linkA})
	if err := f.target.Deliver(context.Background(), d); !queue.IsPermanent(err) {
		t.Fatalf("no sealer: %v, want permanent", err)
	}
}
