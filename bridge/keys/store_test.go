package keys

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreDomainKeyPersists(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, err := s.DomainKey(); err != ErrNoDomainKey {
		t.Fatalf("DomainKey on empty store: %v, want ErrNoDomainKey", err)
	}
	e, err := s.InitDomainKey("Mail.Example.ORG", testNow)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, domainFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("domain key file mode %v, want 0600", fi.Mode().Perm())
	}
	s2 := openTestStore(t, dir)
	e2, err := s2.InitDomainKey("mail.example.org", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if FingerprintOf(e) != FingerprintOf(e2) || e2.PrivateKey == nil {
		t.Errorf("reopened store has another key")
	}
	if _, err := s2.InitDomainKey("other.example", testNow); err == nil {
		t.Errorf("InitDomainKey for another domain accepted")
	}
}

func TestPuppetKeySingleFlight(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	dom, err := s.InitDomainKey("mail.example.org", testNow)
	if err != nil {
		t.Fatal(err)
	}
	jid := `bob\40gmail.com@mail.example.org`
	const n = 32
	fps := make([]Fingerprint, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.PuppetKey(context.Background(), jid)
			errs[i] = err
			if err == nil {
				fps[i] = FingerprintOf(e)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || fps[i] != fps[0] {
			t.Fatalf("%d: fp %s err %v; want %s", i, fps[i], errs[i], fps[0])
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, puppetDir, "*"))
	if len(files) != 1 {
		t.Fatalf("%d puppet files, want 1: %v", len(files), files)
	}
	// A fresh store loads the same key, certified by the domain key.
	e, err := openTestStore(t, dir).PuppetKey(context.Background(), jid)
	if err != nil {
		t.Fatal(err)
	}
	if FingerprintOf(e) != fps[0] {
		t.Errorf("reloaded puppet %s, want %s", FingerprintOf(e), fps[0])
	}
	sig := e.Identities["xmpp:"+jid].OtherCertifications[0].Packet
	if err := dom.PrimaryKey.VerifyUserIdSignature("xmpp:"+jid, e.PrimaryKey, sig); err != nil {
		t.Errorf("stored certification: %v", err)
	}
}

func TestPuppetKeyErrors(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.PuppetKey(ctx, "a@mail.example.org"); err == nil {
		t.Error("puppet key without domain key accepted")
	}
	if _, err := s.InitDomainKey("mail.example.org", testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PuppetKey(ctx, "a@elsewhere.example"); err == nil {
		t.Error("puppet on another domain accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.PuppetKey(cctx, "b@mail.example.org"); err == nil {
		t.Error("cancelled context accepted")
	}
}

// TestExistingPuppetKey: ExistingPuppetKey never makes a key; once
// PuppetKey has made one, it returns it, also from a reopened store.
func TestExistingPuppetKey(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, err := s.InitDomainKey("mail.example.org", testNow); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const p = `bob\40gmail.com@mail.example.org`
	if _, err := s.ExistingPuppetKey(ctx, p); !errors.Is(err, ErrNoPuppet) {
		t.Fatalf("before PuppetKey: %v, want ErrNoPuppet", err)
	}
	if _, err := s.ExistingPuppetKey(ctx, p); !errors.Is(err, ErrNoPuppet) {
		t.Fatalf("ExistingPuppetKey made a key: %v", err)
	}
	made, err := s.PuppetKey(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*Store{"same store": s, "reopened": openTestStore(t, dir)} {
		got, err := st.ExistingPuppetKey(ctx, strings.ToUpper(p[:3])+p[3:])
		if err != nil || FingerprintOf(got) != FingerprintOf(made) {
			t.Fatalf("%s: %v, want the made key", name, err)
		}
	}
}
