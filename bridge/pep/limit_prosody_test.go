package pep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/omemo"
	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

// TestResponderNewPuppetLimits: a flood of key queries to never-used
// puppet JIDs (the H1 attack: 500 in 0.9 s made 500 certified keys) makes
// at most the per-user bound of keys for a local user, none for a
// federated one, and existing puppets are answered to everyone throughout.
func TestResponderNewPuppetLimits(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const perUser, flood = 5, 60
	_, dir := startResponderDir(t, srv, func(c *ResponderConfig) {
		c.NewPuppets = NewPuppetLimits{PerUser: perUser}
	})
	alice := client(ctx, t, srv, "alice", users["alice"])
	bob := client(ctx, t, srv, "bob", users["bob"])
	carol := client(ctx, t, srv, "carol", users["carol"])

	made, refused := queryMany(ctx, t, alice, srv, "a", flood)
	if served := len(made); served != perUser || refused["resource-constraint"] != flood-perUser {
		t.Fatalf("local user: %d served, refusals %v; want %d served, %d resource-constraint",
			served, refused, perUser, flood-perUser)
	}
	if n := countFiles(t, dir); n != perUser {
		t.Fatalf("%d puppet key files after the flood, want %d", n, perUser)
	}

	got, refused := queryMany(ctx, t, bob, srv, "b", flood)
	if served := len(got); served != 0 || refused["item-not-found"] != flood {
		t.Fatalf("federated account: %d served, refusals %v; want none served, all item-not-found", served, refused)
	}
	if n := countFiles(t, dir); n != perUser {
		t.Fatalf("a federated account's queries made keys: %d files, want %d", n, perUser)
	}

	// Existing puppets (the ones alice made) are served to anyone, alice
	// included, though she is over her limit.
	for _, q := range []ClientQuerier{alice, bob} {
		if _, err := rawItems(ctx, q, floodPuppet(t, srv, "a", made[0]), NodeMetadata); err != nil {
			t.Fatalf("existing puppet refused: %v", err)
		}
	}
	// Another local user has a bucket of her own.
	if _, err := rawItems(ctx, carol, floodPuppet(t, srv, "c", 0), NodeMetadata); err != nil {
		t.Fatalf("another local user's first new correspondent: %v", err)
	}
}

func floodPuppet(t *testing.T, srv *prosodytest.Server, prefix string, i int) jid.JID {
	t.Helper()
	p, err := jidesc.PuppetJID(fmt.Sprintf("%s%d@flood%d.example", prefix, i, i), srv.Component)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// queryMany asks n distinct new puppets for their metadata node, all at
// once, and returns the indexes of those served and the refusals by
// condition.
func queryMany(ctx context.Context, t *testing.T, q ClientQuerier, srv *prosodytest.Server, prefix string, n int) ([]int, map[string]int) {
	t.Helper()
	return queryManyNode(ctx, t, q, srv, prefix, n, NodeMetadata)
}

// queryManyNode is queryMany for another node.
func queryManyNode(ctx context.Context, t *testing.T, q ClientQuerier, srv *prosodytest.Server, prefix string, n int, node string) ([]int, map[string]int) {
	t.Helper()
	type answer struct {
		i   int
		err error
	}
	answers := make(chan answer, n)
	for i := range n {
		go func() {
			_, err := rawItems(ctx, q, floodPuppet(t, srv, prefix, i), node)
			answers <- answer{i, err}
		}()
	}
	var served []int
	refused := map[string]int{}
	for range n {
		a := <-answers
		err := a.err
		var xe *xmpp.Error
		switch {
		case err == nil:
			served = append(served, a.i)
		case errors.As(err, &xe):
			refused[xe.Condition]++
		default:
			t.Fatalf("query: %v", err)
		}
	}
	return served, refused
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "puppets"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestResponderNewPuppetDeviceLimits: OMEMO device list queries to new
// puppets follow the same rules as OX key queries: a local user makes at
// most the per-user bound of devices, a federated account none (a bundle
// query never makes one), and an existing device is served to anyone.
func TestResponderNewPuppetDeviceLimits(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const perUser, flood = 3, 20
	odir := t.TempDir()
	store, err := omemo.NewStore(omemo.StoreConfig{Dir: odir})
	if err != nil {
		t.Fatal(err)
	}
	startResponderDir(t, srv, func(c *ResponderConfig) {
		c.NewPuppets, c.OMEMO = NewPuppetLimits{PerUser: perUser}, store
	})
	alice := client(ctx, t, srv, "alice", users["alice"])
	bob := client(ctx, t, srv, "bob", users["bob"])
	files := func() int {
		ents, err := os.ReadDir(odir)
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	made, refused := queryManyNode(ctx, t, alice, srv, "a", flood, omemo.NodeDeviceList)
	if len(made) != perUser || refused["resource-constraint"] != flood-perUser || files() != perUser {
		t.Fatalf("local user: %d served, refusals %v, %d devices; want %d served", len(made), refused, files(), perUser)
	}
	got, refused := queryManyNode(ctx, t, bob, srv, "b", flood, omemo.NodeDeviceList)
	if len(got) != 0 || refused["item-not-found"] != flood || files() != perUser {
		t.Fatalf("federated account: %d served, refusals %v, %d devices", len(got), refused, files())
	}
	if _, refused := queryManyNode(ctx, t, alice, srv, "z", 5, omemo.BundleNode(12345)); refused["item-not-found"] != 5 || files() != perUser {
		t.Fatalf("bundle queries to new puppets: %v, %d devices", refused, files())
	}
	if _, err := rawItems(ctx, bob, floodPuppet(t, srv, "a", made[0]), omemo.NodeDeviceList); err != nil {
		t.Fatalf("existing puppet device refused: %v", err)
	}
}
