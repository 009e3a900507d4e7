package relay

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
	"passerelle/internal/peer"
)

// fakeUpload is the hub server's XEP-0363 service: blobs by URL.
type fakeUpload struct {
	mu    sync.Mutex
	blobs map[string][]byte
	fail  error
}

func (f *fakeUpload) Upload(_ context.Context, r io.Reader, size int64) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	b, err := io.ReadAll(r)
	if err != nil || int64(len(b)) != size {
		return "", fmt.Errorf("upload: read %d of %d bytes: %v", len(b), size, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blobs == nil {
		f.blobs = map[string][]byte{}
	}
	url := fmt.Sprintf("https://upload.hub.example/%d", len(f.blobs))
	f.blobs[url] = b
	return url, nil
}

func (f *fakeUpload) Fetch(_ context.Context, url string, max int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.blobs[url]
	if !ok {
		return nil, errors.New("404")
	}
	if int64(len(b)) > max {
		return nil, errors.New("over the size limit")
	}
	return b, nil
}

// tamper flips a byte of every stored blob.
func (f *fakeUpload) tamper() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.blobs {
		b[len(b)/2] ^= 1
	}
}

// withUpload gives both ends of s the upload service: uploads for what is
// over the stanza limit, downloads on receipt.
func withUpload(t *testing.T, s *site, up *fakeUpload) {
	t.Helper()
	s.hub.cfg.Uploader, s.client.cfg.Uploader, s.hubRC.Download = up, up, up
	cd, err := peer.OpenDedup(t.TempDir(), 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs, trust, disc, err := s.client.ReceiverParts()
	if err != nil {
		t.Fatal(err)
	}
	if s.rcv, err = peer.NewReceiver(peer.ReceiverConfig{Self: clientJID, Key: s.clientKey, Records: recs, Trust: trust,
		Keys: disc, Policy: s.client.cfg.Policy, Local: s.local, Dedup: cd, Download: up}); err != nil {
		t.Fatal(err)
	}
	s.toClient.handlers = map[string]xmpp.IQHandler{"mail": s.client.SignAcks(s.rcv.Handle)}
}

// bigMail is a mail of about n bytes, over both stanza limits.
func bigMail(from, to, marker string, n int) []byte {
	m := mailFrom(from, to, marker)
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	var b bytes.Buffer
	b.Write(m)
	for b.Len() < n {
		b.WriteString(line)
	}
	b.WriteString("end " + marker + "\r\n")
	return b.Bytes()
}

// TestRelayLargeMail: mail over the relay link's stanza limit goes through
// the hub server's upload service both ways, encrypted under a key only
// the sealed transfer carries; it arrives byte for byte; a blob changed
// on the server is refused, not delivered; without an upload service such
// mail gets 552 at DATA, as before.
func TestRelayLargeMail(t *testing.T) {
	ctx := context.Background()
	const size = 1 << 20
	t.Run("no upload service: 552 both ways", func(t *testing.T) {
		s := newSite(t)
		s.connect(t)
		dec, err := s.hub.Rcpt(ctx, mxInfo, "bob@far.example", "alice@home.example")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.hub.Seal(ctx, &smtpd.Envelope{From: "bob@far.example"}, bigMail("bob@far.example", "alice@home.example", "in", size), nil,
			[]smtpd.Recipient{{Addr: "alice@home.example", Route: dec}})
		if smtpd.SMTPError(err).Code != 552 {
			t.Errorf("hub: %v, want 552", err)
		}
		info := &smtpd.Info{ID: "s1", Mode: smtpd.ModeSubmission, AuthUser: "mta"}
		up, err := s.client.Rcpt(ctx, info, "alice@home.example", "carol@far.example")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.client.Seal(ctx, &smtpd.Envelope{From: "alice@home.example"}, bigMail("alice@home.example", "carol@far.example", "out", size), nil,
			[]smtpd.Recipient{{Addr: "carol@far.example", Route: up}})
		if smtpd.SMTPError(err).Code != 552 {
			t.Errorf("client: %v, want 552", err)
		}
	})
	t.Run("inbound: hub uploads, client downloads", func(t *testing.T) {
		s, store := newSite(t), &fakeUpload{}
		withUpload(t, s, store)
		s.connect(t)
		dec, err := s.hub.Rcpt(ctx, mxInfo, "bob@far.example", "alice@home.example")
		if err != nil {
			t.Fatal(err)
		}
		raw := bigMail("bob@far.example", "alice@home.example", "large-in", size)
		rcpts, bodies, err := s.hub.Seal(ctx, &smtpd.Envelope{From: "bob@far.example"}, raw, nil,
			[]smtpd.Recipient{{Addr: "alice@home.example", Route: dec}})
		if err != nil {
			t.Fatalf("hub seal: %v", err)
		}
		if len(bodies[0]) > 64<<10 || hasMarker(bodies[0], "large-in") || len(store.blobs) != 1 {
			t.Fatalf("spooled %d bytes (plaintext: %v), %d blobs", len(bodies[0]), hasMarker(bodies[0], "large-in"), len(store.blobs))
		}
		for _, b := range store.blobs {
			if hasMarker(b, "large-in") {
				t.Fatal("the uploaded blob holds the mail in clear")
			}
		}
		target, err := s.hub.HubTargets(s.toClient, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := target.Deliver(ctx, delivery("m1", rcpts[0], bodies[0], queue.BodyOpaque)); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if s.local.count() != 1 || !bytes.HasSuffix(s.local.data[0], raw) {
			t.Fatalf("the client's local path got %d mails, intact: %v", s.local.count(), s.local.count() == 1 && bytes.HasSuffix(s.local.data[0], raw))
		}
	})
	t.Run("outbound: client uploads, hub downloads; a changed blob is refused", func(t *testing.T) {
		s, store := newSite(t), &fakeUpload{}
		withUpload(t, s, store)
		s.connect(t)
		target, err := s.client.Target(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		send := func(marker string) ([]byte, error) {
			info := &smtpd.Info{ID: "s2", Mode: smtpd.ModeSubmission, AuthUser: "mta"}
			dec, err := s.client.Rcpt(ctx, info, "alice@home.example", "carol@far.example")
			if err != nil {
				return nil, err
			}
			raw := bigMail("alice@home.example", "carol@far.example", marker, size)
			rcpts, bodies, err := s.client.Seal(ctx, &smtpd.Envelope{From: "alice@home.example"}, raw, nil,
				[]smtpd.Recipient{{Addr: "carol@far.example", Route: dec}})
			if err != nil {
				return nil, fmt.Errorf("seal: %w", err)
			}
			if hasMarker(bodies[0], marker) || len(bodies[0]) > 64<<10 {
				return nil, fmt.Errorf("client spooled %d bytes, plaintext %v", len(bodies[0]), hasMarker(bodies[0], marker))
			}
			return raw, target.Deliver(ctx, delivery("o-"+marker, rcpts[0], bodies[0], queue.BodyOpaque))
		}
		raw, err := send("large-out")
		if err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if s.spool.count() != 1 || !bytes.HasSuffix(s.spool.bodies[0], raw) {
			t.Fatalf("hub spool: %d messages, intact: %v", s.spool.count(), s.spool.count() == 1 && bytes.HasSuffix(s.spool.bodies[0], raw))
		}
		orig := s.client.cfg.Uploader
		s.client.cfg.Uploader = tamperingUpload{store}
		_, err = send("tampered")
		s.client.cfg.Uploader = orig
		if !queue.IsPermanent(err) || s.spool.count() != 1 {
			t.Fatalf("a blob changed on the server: %v (hub spooled %d), want a permanent refusal", err, s.spool.count())
		}
		if d, ok := queue.DiagnosticOf(err); !ok || d.Status != "5.6.0" {
			t.Errorf("diagnostic %+v, want 5.6.0", d)
		}
		store.fail = errors.New("upload service down")
		if _, err := send("down"); smtpd.SMTPError(err).Code != 451 {
			t.Errorf("upload service down: %v, want 451 at DATA", err)
		}
	})
}

// tamperingUpload stores the blob, then changes it, as a server could.
type tamperingUpload struct{ f *fakeUpload }

func (u tamperingUpload) Upload(ctx context.Context, r io.Reader, size int64) (string, error) {
	url, err := u.f.Upload(ctx, r, size)
	u.f.tamper()
	return url, err
}
