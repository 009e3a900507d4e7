package natsstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"passerelle/gateway/queue"
)

// Operators' commands change the stored state whichever node holds the
// message; the holder loses its claim at its next write.
func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	srv, s := single(t, 5*time.Second)
	cli := open(t, "cli", []string{srv.ClientURL}, 1, 5*time.Second)
	ctx := context.Background()
	e := testEnvelope("bob@example.net")
	put(t, s, e, "body")

	if _, err := cli.Operate(ctx, "hold", e.ID); err != nil {
		t.Fatalf("hold: %v", err)
	}
	got, err := cli.Show(ctx, e.ID)
	if err != nil || !got.Recipients[0].Held {
		t.Fatalf("after hold: %+v, %v", got, err)
	}
	// The node claims it and sees it held.
	claimed := claimAll(t, s, 1, 5*time.Second)
	if len(claimed) != 1 || !claimed[0].Recipients[0].Held {
		t.Fatalf("claimed %+v: want the held message", claimed)
	}
	// Released while the node holds it: the node's next write conflicts.
	if n, err := cli.Operate(ctx, "release", e.ID); err != nil || n != 1 {
		t.Fatalf("release: %d, %v", n, err)
	}
	r := claimed[0].Recipients
	r[0].Attempts = 1
	if err := s.Update(ctx, e.ID, r); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("stale holder's Update: %v, want a conflict", err)
	}
	if got, _ := cli.Show(ctx, e.ID); got.Recipients[0].Held || got.Recipients[0].Attempts != 0 {
		t.Fatalf("after release: %+v; want released and the stale write not applied", got.Recipients[0])
	}
	if n, err := cli.Operate(ctx, "retry", ""); err != nil || n != 1 {
		t.Fatalf("retry all: %d, %v", n, err)
	}
	if _, err := cli.Operate(ctx, "delete", e.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got, _ := cli.Show(ctx, e.ID); got.Recipients[0].State != queue.StateFailed || got.Recipients[0].Diag.Status != "5.0.0" {
		t.Fatalf("after delete: %+v; want failed 5.0.0 (a DSN follows)", got.Recipients[0])
	}
	if err := cli.Discard(ctx, e.ID); err != nil {
		t.Fatalf("delete --silent: %v", err)
	}
	if _, err := cli.Show(ctx, e.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Show after delete --silent: %v, want ErrNotFound", err)
	}
	if envs, err := cli.Load(ctx); err != nil || len(envs) != 0 {
		t.Fatalf("Load = %d, %v; want empty", len(envs), err)
	}
}
