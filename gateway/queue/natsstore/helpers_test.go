package natsstore

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"passerelle/gateway/queue"
	"passerelle/internal/natstest"
)

func testEnvelope(rcpts ...string) *queue.Envelope {
	e := &queue.Envelope{From: "alice@example.org", Bodies: []queue.Body{{Kind: queue.BodyMessage}}}
	for _, a := range rcpts {
		e.Recipients = append(e.Recipients, queue.Recipient{Addr: a, Route: "xmpp", Params: map[string]string{"jid": a}})
	}
	return e
}

// open connects a node named name to urls with a short AckWait.
func open(t *testing.T, name string, urls []string, replicas int, ackWait time.Duration) *Store {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var s *Store
	var err error
	for { // a fresh cluster may not have elected its JetStream leader yet
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err = Open(ctx, Config{URLs: urls, Name: name, Replicas: replicas, AckWait: ackWait,
			MaxDefer: time.Minute, FetchWait: 200 * time.Millisecond, Log: zaptest.NewLogger(t).Named(name)})
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func single(t *testing.T, ackWait time.Duration) (*natstest.Server, *Store) {
	srv := natstest.Start(t)
	return srv, open(t, "a", []string{srv.ClientURL}, 1, ackWait)
}

func put(t *testing.T, s *Store, e *queue.Envelope, body string) {
	t.Helper()
	if err := s.Put(context.Background(), e, strings.NewReader(body)); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// claimAll claims until want messages are held or the deadline passes.
func claimAll(t *testing.T, s *Store, want int, within time.Duration) []*queue.Envelope {
	t.Helper()
	var out []*queue.Envelope
	deadline := time.Now().Add(within)
	for len(out) < want && time.Now().Before(deadline) {
		envs, err := s.Claim(context.Background(), want-len(out))
		if err != nil {
			t.Logf("Claim: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		out = append(out, envs...)
	}
	return out
}

func readBody(t *testing.T, s *Store, id string, n int) string {
	t.Helper()
	rc, err := s.OpenBody(context.Background(), id, n)
	if err != nil {
		t.Fatalf("OpenBody: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// die makes s behave as a node killed with SIGKILL: it stops renewing its
// claims and its connection goes, with nothing acknowledged.
func die(s *Store) {
	close(s.stop)
	s.wg.Wait()
	s.nc.Close()
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
