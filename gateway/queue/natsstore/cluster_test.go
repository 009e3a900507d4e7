package natsstore

import (
	"context"
	"testing"
	"time"

	"passerelle/internal/natstest"
)

// On a three-node cluster at R3, Put is acknowledged only once stored on a
// quorum, and goes on being acknowledged with one node down; what was
// acknowledged survives the node's loss and comes back with it.
func TestClusterR3SurvivesANode(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	s := open(t, "a", c.URLList(), 3, 5*time.Second)
	ctx := context.Background()
	info, err := s.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream replicas %d, cluster %+v: want R3 with two followers", info.Config.Replicas, info.Cluster)
	}
	var ids []string
	for range 5 {
		e := testEnvelope("bob@example.net")
		put(t, s, e, "before")
		ids = append(ids, e.ID)
	}
	// Kill the stream leader: the worst one to lose.
	var victim *natstest.Server
	for _, srv := range c.Servers {
		if srv.Name == info.Cluster.Leader {
			victim = srv
		}
	}
	if victim == nil {
		t.Fatalf("leader %q not among the servers", info.Cluster.Leader)
	}
	victim.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < 5; {
		e := testEnvelope("bob@example.net")
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Put(pctx, e, stringsReader("during"))
		cancel()
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("Put with one of three nodes down: %v", err)
			}
			t.Logf("Put while the cluster elects a new leader: %v", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		ids = append(ids, e.ID)
		n++
	}
	got := claimAll(t, s, len(ids), 30*time.Second)
	if len(got) != len(ids) {
		t.Fatalf("claimed %d of %d acknowledged messages with a node down", len(got), len(ids))
	}
	for _, e := range got {
		if err := s.Remove(ctx, e.ID); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	// The restarted node catches up: with another node down, the quorum
	// includes it and nothing removed comes back.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		envs, err := s.Load(ctx)
		if err == nil && len(envs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %d messages, %v", len(envs), err)
		}
		t.Logf("after restart: %d messages, %v", len(envs), err) // the cluster settling
	}
}
