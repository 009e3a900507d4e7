package keys

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

// MaxKeyringKeys bounds the number of keys a Keyring holds.
const MaxKeyringKeys = 10000

// Keyring is a directory of pinned or imported public keys, one armored
// file per key named after its fingerprint. It is a Source named "keyring".
type Keyring struct {
	dir string
	log *zap.Logger

	mu      sync.RWMutex
	keys    map[Fingerprint]*openpgp.Entity
	byAddr  map[string][]Fingerprint
	dirTime time.Time // the directory's mtime when last loaded
}

// OpenKeyring opens (creating if needed) the keyring directory dir and
// loads every key in it.
func OpenKeyring(dir string, log *zap.Logger) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open keyring %s: %w", dir, err)
	}
	k := &Keyring{dir: dir, log: log.Named("keyring"),
		keys: make(map[Fingerprint]*openpgp.Entity), byAddr: make(map[string][]Fingerprint)}
	if err := k.loadAll(); err != nil {
		return nil, fmt.Errorf("open keyring %s: %w", dir, err)
	}
	return k, nil
}

// loadAll reads every key file in the directory.
func (k *Keyring) loadAll() error {
	st, err := os.Stat(k.dir)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(k.dir, "*.asc"))
	if err != nil {
		return err
	}
	if len(files) > MaxKeyringKeys {
		return fmt.Errorf("%w: %d files", ErrTooManyKeys, len(files))
	}
	for _, f := range files {
		if err := k.loadFile(f); err != nil {
			return err
		}
	}
	k.mu.Lock()
	k.dirTime = st.ModTime()
	k.mu.Unlock()
	return nil
}

// refresh reloads the directory when another process (`passerelle keys
// import` beside a running gateway) has changed it.
func (k *Keyring) refresh() {
	st, err := os.Stat(k.dir)
	if err != nil {
		return
	}
	k.mu.RLock()
	same := st.ModTime().Equal(k.dirTime)
	k.mu.RUnlock()
	if same {
		return
	}
	if err := k.loadAll(); err != nil {
		k.log.Error("reload keyring", zap.String("dir", k.dir), zap.Error(err))
	}
}

func (k *Keyring) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	el, err := ReadKeys(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, e := range el {
		k.add(e)
	}
	return nil
}

// Name implements Source.
func (k *Keyring) Name() string { return "keyring" }

// Import reads one key block (armored or binary, at most MaxKeyBytes and
// MaxKeysPerBlock keys), stores the public part of each key, replacing a
// stored key with the same fingerprint, and returns the fingerprints.
func (k *Keyring) Import(r io.Reader) ([]Fingerprint, error) {
	el, err := ReadKeys(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if n := k.Len(); n+len(el) > MaxKeyringKeys {
		return nil, fmt.Errorf("import: %w: keyring holds %d of %d", ErrTooManyKeys, n, MaxKeyringKeys)
	}
	fps := make([]Fingerprint, 0, len(el))
	for _, e := range el {
		fp, err := k.store(e)
		if err != nil {
			return fps, fmt.Errorf("import: %w", err)
		}
		fps = append(fps, fp)
	}
	return fps, nil
}

func (k *Keyring) store(e *openpgp.Entity) (Fingerprint, error) {
	data, err := ArmorPublic(e)
	if err != nil {
		return "", err
	}
	fp := FingerprintOf(e)
	if err := fsutil.WriteAtomic(fsutil.OS{}, k.dir, string(fp)+".asc", data); err != nil {
		return "", err
	}
	pub, err := ParseKeys(data) // drop any secret material from memory too
	if err != nil {
		return "", err
	}
	k.add(pub[0])
	k.log.Info("key imported", zap.String("fingerprint", string(fp)))
	return fp, nil
}

func (k *Keyring) add(e *openpgp.Entity) {
	fp := FingerprintOf(e)
	addrs := Addresses(e)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, a := range addrs { // a replaced key may carry new user IDs
		if !slices.Contains(k.byAddr[a], fp) {
			k.byAddr[a] = append(k.byAddr[a], fp)
		}
	}
	k.keys[fp] = e
}

// Len returns the number of keys held.
func (k *Keyring) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys)
}

// Lookup returns the key for addr (see NormalizeAddress for the accepted
// forms): the newest usable one, else the newest one so that the caller's
// Usable check reports why it is unusable. It returns ErrNoKey if no key
// carries addr.
func (k *Keyring) Lookup(ctx context.Context, addr string) (*openpgp.Entity, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return nil, err
	}
	k.refresh()
	cands := k.candidates(a)
	if len(cands) == 0 {
		return nil, fmt.Errorf("keyring: %w", ErrNoKey)
	}
	return pickKey(cands, time.Now()), nil
}

func (k *Keyring) candidates(addr string) []*openpgp.Entity {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []*openpgp.Entity
	for _, fp := range k.byAddr[addr] {
		if e := k.keys[fp]; e != nil && HasAddress(e, addr) {
			out = append(out, e)
		}
	}
	return out
}

// pickKey prefers usable keys, then newer ones.
func pickKey(cands []*openpgp.Entity, now time.Time) *openpgp.Entity {
	var best *openpgp.Entity
	bestUsable := false
	for _, e := range cands {
		usable := Usable(e, now) == nil
		newer := best == nil || e.PrimaryKey.CreationTime.After(best.PrimaryKey.CreationTime)
		if (usable && !bestUsable) || (usable == bestUsable && newer) {
			best, bestUsable = e, usable
		}
	}
	return best
}
