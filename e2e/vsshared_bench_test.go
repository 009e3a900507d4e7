package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"passerelle/gateway/queue/natsstore"
	"passerelle/internal/natstest"
	"passerelle/internal/prosodytest"
)

// The shared queue's row in BenchmarkVsPostfix: the same passerelle on
// spool.backend = "jetstream", a three-node nats-server cluster at R3 on
// the same machine (so every 250 waits for two of three servers), its own
// component domain on the same Prosody. Its CPU and PSS include the three
// nats-server processes: they are the spool.
const (
	sharedName      = "passerelle, JetStream R3"
	sharedComponent = "mailjs.example.org"
	sharedSecret    = "shared-queue-bench-secret"
)

type vsShared struct {
	vsPasserelle
	nats  *natstest.Cluster
	store *natsstore.Store
}

func startSharedSystem(b *testing.B, srv *prosodytest.Server, drain *drainClient) *vsShared {
	c := natstest.StartCluster(b, 3)
	spool := "backend = \"jetstream\"\n"
	tail := fmt.Sprintf("\n[spool.jetstream]\nurls = [%s]\nreplicas = 3\nnode = \"bench\"\nack_wait = \"30s\"\n", quoteList(c.URLList()))
	g := startLoadGatewayOn(b, srv, sharedComponent, sharedSecret, spool, tail)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := natsstore.Open(ctx, natsstore.Config{URLs: c.URLList(), Name: "bench-counter", Replicas: 3, AckWait: 30 * time.Second})
	if err != nil {
		b.Fatalf("open the shared spool to count it: %v", err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return &vsShared{vsPasserelle: vsPasserelle{g: g, srv: srv, drain: drain}, nats: c, store: st}
}

func (s *vsShared) name() string { return sharedName }
func (s *vsShared) queued() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := s.store.Records(ctx)
	return int(n), err
}
func (s *vsShared) pids() []int {
	pids := []int{s.g.cmd.Process.Pid}
	for _, n := range s.nats.Servers {
		pids = append(pids, n.Pid())
	}
	return pids
}
func (s *vsShared) passerelle() *vsPasserelle { return &s.vsPasserelle }
