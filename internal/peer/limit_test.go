package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/ratelimit"
)

// TestReceiverRateLimit: past its burst, a sending gateway is told to
// wait (temporary, 4.7.1) and nothing is stored for that transfer.
func TestReceiverRateLimit(t *testing.T) {
	f := newFixture(t)
	f.receiver.rate = ratelimit.New(ratelimit.Config{Rate: 1.0 / 60, Burst: 2})
	for i := range 3 {
		qe := f.submit(t, "alice@a.example", "bob@b.example")
		err := f.deliver(qe, 0)
		if i < 2 && err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		if i == 2 {
			d, _ := queue.DiagnosticOf(err)
			if err == nil || queue.IsPermanent(err) || d.Status != "4.7.1" {
				t.Fatalf("transfer over the rate: %v (%+v), want temporary 4.7.1", err, d)
			}
		}
	}
	if f.local.accepted() != 2 {
		t.Fatalf("%d stored, want 2", f.local.accepted())
	}
}

func TestPerPeerLimit(t *testing.T) {
	p := &perPeer{max: 2, sem: map[string]chan struct{}{}}
	r1, _ := p.acquire(context.Background(), "b.example")
	_, _ = p.acquire(context.Background(), "b.example")
	if _, err := p.acquire(context.Background(), "c.example"); err != nil {
		t.Fatal("another peer's slots are separate")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.acquire(ctx, "b.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third transfer to b.example: %v, want to wait", err)
	}
	r1()
	if _, err := p.acquire(context.Background(), "b.example"); err != nil {
		t.Fatal(err)
	}
}

type fakeUpload struct {
	mu    sync.Mutex
	blobs map[string][]byte
	fail  bool
}

func (u *fakeUpload) Upload(_ context.Context, r io.Reader, size int64) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fail {
		return "", errors.New("upload service down")
	}
	b, _ := io.ReadAll(r)
	url := fmt.Sprintf("https://upload.a.example/%d", len(u.blobs))
	u.blobs[url] = b
	return url, nil
}

func (u *fakeUpload) Fetch(_ context.Context, url string, max int64) ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b, ok := u.blobs[url]
	if !ok || int64(len(b)) > max {
		return nil, errors.New("not found")
	}
	return b, nil
}

// TestLargeMailOverUpload: mail that would not fit the stanza limit
// travels as an encrypted upload whose key and hash are inside the signed
// envelope; the peer downloads it before it acknowledges. Without upload
// it is refused at end of DATA (552), never truncated.
func TestLargeMailOverUpload(t *testing.T) {
	f := newFixture(t)
	up := &fakeUpload{blobs: map[string][]byte{}}
	f.route.cfg.Uploader, f.route.cfg.MaxStanza = up, 4096
	f.receiver.cfg.Download = up
	big := testMail + strings.Repeat("0123456789abcdef\r\n", 1000)
	ctx := context.Background()
	info := &smtpd.Info{Mode: smtpd.ModeSubmission, AuthUser: "alice"}
	route, err := f.route.Rcpt(ctx, info, "alice@a.example", "bob@b.example")
	if err != nil {
		t.Fatal(err)
	}
	env := &smtpd.Envelope{Session: *info, From: "alice@a.example", Recipients: []smtpd.Recipient{{Addr: "bob@b.example", Route: route}}}
	qrs, bodies, err := f.route.Seal(ctx, env, []byte(big), nil, env.Recipients)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.blobs) != 1 || len(bodies[0]) > 4096 || bytes.Contains(up.blobs["https://upload.a.example/0"], []byte("0123456789abcdef")) {
		t.Fatalf("%d uploads, transfer of %d bytes; the blob must be ciphertext", len(up.blobs), len(bodies[0]))
	}
	f.deliveredBodys = bodies
	if err := f.deliver(&queue.Envelope{ID: "q", From: "alice@a.example", Recipients: qrs}, 0); err != nil {
		t.Fatal(err)
	}
	if f.local.accepted() != 1 || !bytes.HasSuffix(f.local.data[0], []byte(big)) {
		t.Fatal("the peer did not store the large mail intact")
	}
	f.route.cfg.Uploader = nil
	if _, _, err := f.route.Seal(ctx, env, []byte(big), nil, env.Recipients); !errors.Is(err, errTooLargePeer) {
		t.Fatalf("without upload: %v, want 552", err)
	}
	f.route.cfg.Uploader, up.fail = up, true
	if _, _, err := f.route.Seal(ctx, env, []byte(big), nil, env.Recipients); !errors.Is(err, errUploadFailed) {
		t.Fatalf("upload down: %v, want 451", err)
	}
}

// TestTargetClassify: the peer's refusals with a status are final; errors
// a server on the way produced (no status) are retried.
func TestTargetClassify(t *testing.T) {
	tg, _ := NewTarget(TargetConfig{Peers: &Discovery{}, IQ: linkOf{}})
	for _, tc := range []struct {
		name     string
		err      *xmpp.Error
		wantPerm bool
		status   string
	}{
		{"peer refuses", &xmpp.Error{Condition: "forbidden", Type: "auth", Text: "5.7.1 sender domain c.example is not served by mail.a.example"}, true, "5.7.1"},
		{"peer says wait", &xmpp.Error{Condition: "policy-violation", Type: "wait", Transient: true, Text: "4.7.0 key held"}, false, "4.7.0"},
		{"component gone", &xmpp.Error{Condition: "remote-server-timeout", Type: "wait", Transient: true, Text: "Component unavailable"}, false, "4.0.0"},
		{"server says service-unavailable", &xmpp.Error{Condition: "service-unavailable", Type: "cancel"}, false, "4.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tg.classify(tc.err)
			d, _ := queue.DiagnosticOf(err)
			if queue.IsPermanent(err) != tc.wantPerm || d.Status != tc.status {
				t.Fatalf("classify: permanent=%v status %q, want %v %q", queue.IsPermanent(err), d.Status, tc.wantPerm, tc.status)
			}
		})
	}
}
