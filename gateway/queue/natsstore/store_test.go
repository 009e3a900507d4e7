package natsstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"passerelle/gateway/queue"
)

func TestPutClaimUpdateRemove(t *testing.T) {
	t.Parallel()
	_, s := single(t, 5*time.Second)
	ctx := context.Background()
	e := testEnvelope("bob@example.net", "carol@example.net")
	put(t, s, e, "Subject: hi\r\n\r\nbody\r\n")
	if !queue.ValidID(e.ID) || e.Bodies[0].Size != 21 || e.Recipients[0].State != queue.StatePending {
		t.Fatalf("Put filled in %+v", e)
	}
	got := claimAll(t, s, 1, 5*time.Second)
	if len(got) != 1 || got[0].ID != e.ID {
		t.Fatalf("claimed %v, want %s", got, e.ID)
	}
	if b := readBody(t, s, e.ID, 0); b != "Subject: hi\r\n\r\nbody\r\n" {
		t.Fatalf("body %q", b)
	}
	rcpts := got[0].Recipients
	rcpts[0].State = queue.StateDelivered
	if err := s.Update(ctx, e.ID, rcpts); err != nil {
		t.Fatalf("Update: %v", err)
	}
	rcpts[1].State, rcpts[1].Attempts = queue.StatePending, 1
	if err := s.Update(ctx, e.ID, rcpts); err != nil {
		t.Fatalf("second Update: %v", err)
	}
	envs, err := s.Load(ctx)
	if err != nil || len(envs) != 1 || envs[0].Recipients[0].State != queue.StateDelivered || envs[0].Recipients[1].Attempts != 1 {
		t.Fatalf("Load = %v, %v: want the updated state", envs, err)
	}
	if err := s.Remove(ctx, e.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if envs, err := s.Load(ctx); err != nil || len(envs) != 0 {
		t.Fatalf("Load after Remove = %v, %v", envs, err)
	}
	if again := claimAll(t, s, 1, time.Second); len(again) != 0 {
		t.Fatalf("claimed %v after Remove", again)
	}
}

func TestPresetIDStoredOnce(t *testing.T) {
	t.Parallel()
	_, s := single(t, 5*time.Second)
	id := queue.DSNID(queue.NewID(), "failed", []int{0})
	for range 2 {
		e := testEnvelope("alice@example.org")
		e.ID = id
		put(t, s, e, "dsn")
	}
	if got := claimAll(t, s, 2, 2*time.Second); len(got) != 1 || got[0].ID != id {
		t.Fatalf("claimed %d messages, want the one %s", len(got), id)
	}
}

func TestLargeBodyInObjectStore(t *testing.T) {
	t.Parallel()
	_, s := single(t, 5*time.Second)
	big := strings.Repeat("0123456789abcdef", 200<<10) // 3.2 MB, above the 1 MB max_payload
	e := testEnvelope("bob@example.net")
	e.Bodies = append(e.Bodies, queue.Body{Kind: queue.BodyOpaque})
	e.Recipients[0].Body = 1
	if err := s.Put(context.Background(), e, strings.NewReader("small"), strings.NewReader(big)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if int64(len(big)) != e.Bodies[1].Size {
		t.Fatalf("size %d, want %d", e.Bodies[1].Size, len(big))
	}
	claimAll(t, s, 1, 5*time.Second)
	if b := readBody(t, s, e.ID, 1); b != big {
		t.Fatalf("large body came back as %d bytes", len(b))
	}
	if b := readBody(t, s, e.ID, 0); b != "small" {
		t.Fatalf("small body %q", b)
	}
	if err := s.Remove(context.Background(), e.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := s.obj.GetInfo(context.Background(), s.objName(e.ID, 1)); err == nil {
		t.Fatal("object left after Remove")
	}
}

// A node that dies holding a message: after AckWait another node gets it,
// with the state the first one recorded. The dead node's stale write then
// fails (compare-and-set), so it cannot undo what the new holder wrote.
func TestRedeliveryAfterNodeDiesAndCAS(t *testing.T) {
	t.Parallel()
	srv, a := single(t, 4*time.Second) // renewed every second: a loaded machine may be late
	b := open(t, "b", []string{srv.ClientURL}, 1, 4*time.Second)
	ctx := context.Background()
	e := testEnvelope("bob@example.net", "carol@example.net")
	put(t, a, e, "body")
	got := claimAll(t, a, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("a claimed %d", len(got))
	}
	rcpts := got[0].Recipients
	rcpts[0].State = queue.StateDelivered
	if err := a.Update(ctx, e.ID, rcpts); err != nil {
		t.Fatalf("Update: %v", err)
	}
	// While a renews its claim, b gets nothing (a few ack waits).
	if got := claimAll(t, b, 1, 5*time.Second); len(got) != 0 {
		t.Fatalf("b claimed %s while a held it", got[0].ID)
	}
	stale := a.claims[e.ID]
	die(a)
	got = claimAll(t, b, 1, 15*time.Second)
	if len(got) != 1 || got[0].Recipients[0].State != queue.StateDelivered || got[0].Recipients[1].State != queue.StatePending {
		t.Fatalf("b claimed %+v: want the message with bob delivered, carol pending", got)
	}
	r2 := got[0].Recipients
	r2[1].Attempts = 1
	if err := b.Update(ctx, e.ID, r2); err != nil {
		t.Fatalf("b Update: %v", err)
	}
	// a's last write, had it not died: rejected.
	if _, err := b.write(ctx, e.ID, stale.rev, []byte(`{}`)); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("stale write: %v, want a conflict wrapping ErrNotFound", err)
	}
}

func TestDeferHandsBackAtDue(t *testing.T) {
	t.Parallel()
	srv, a := single(t, 5*time.Second)
	b := open(t, "b", []string{srv.ClientURL}, 1, 5*time.Second)
	e := testEnvelope("bob@example.net")
	put(t, a, e, "body")
	if got := claimAll(t, a, 1, 5*time.Second); len(got) != 1 {
		t.Fatal("not claimed")
	}
	due := time.Now().Add(2 * time.Second)
	if err := a.Defer(context.Background(), e.ID, due); err != nil {
		t.Fatalf("Defer: %v", err)
	}
	got := claimAll(t, b, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatal("deferred message never came back")
	}
	if early := time.Until(due); early > 100*time.Millisecond {
		t.Fatalf("handed back %v before it was due", early)
	}
}

func TestQuarantineUndecodable(t *testing.T) {
	t.Parallel()
	_, s := single(t, 5*time.Second)
	id := queue.NewID()
	if _, err := s.js.PublishMsg(context.Background(), &nats.Msg{Subject: s.prefix + id, Data: []byte("{not a record\n")}); err != nil {
		t.Fatal(err)
	}
	good := testEnvelope("bob@example.net")
	put(t, s, good, "body")
	got := claimAll(t, s, 2, 3*time.Second)
	if len(got) != 1 || got[0].ID != good.ID {
		t.Fatalf("claimed %v: want only the good message", got)
	}
	_, damaged, err := s.List(context.Background())
	if err != nil || len(damaged) != 1 || damaged[0].ID != id || !damaged[0].Quarantined {
		t.Fatalf("List damaged = %v, %v: want %s", damaged, err, id)
	}
	// Never handed out again.
	if err := s.Defer(context.Background(), good.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, 2, 2*time.Second); len(got) != 1 || got[0].ID != good.ID {
		t.Fatalf("claimed %v after the quarantine", got)
	}
}

func TestDecodePutNeverPanics(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n", "{}\n", `{"v":1,"inline":[true],"env":{}}` + "\n", `{"v":1,"inline":[],"env":null}` + "\nxx"} {
		if _, _, err := decodePut([]byte(in)); !errors.Is(err, queue.ErrDamaged) {
			t.Errorf("decodePut(%q) = %v, want ErrDamaged", in, err)
		}
	}
}
