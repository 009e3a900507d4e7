package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

const (
	domainFile       = "domain.asc"
	puppetDir        = "puppets"
	maxCachedPuppets = 4096
)

// Store keeps the domain key and the puppet keys as armored secret keys,
// one 0600 file each, in a 0700 directory. One process owns a directory;
// files are created with link(2) so even two writers never replace a key.
type Store struct {
	dir    string
	fs     fsutil.FS // every write goes through it (tests inject faults)
	log    *zap.Logger
	now    func() time.Time
	flight flight[*openpgp.Entity]

	mu      sync.RWMutex
	domain  *openpgp.Entity
	name    string // domain JID, from the domain key's user ID
	puppets map[string]*openpgp.Entity
}

// OpenStore opens (creating if needed) the key directory dir and loads the
// domain key if there is one.
func OpenStore(dir string, log *zap.Logger) (*Store, error) {
	if err := fsutil.MkdirAll(fsutil.OS{}, filepath.Join(dir, puppetDir)); err != nil {
		return nil, fmt.Errorf("open key store %s: %w", dir, err)
	}
	s := &Store{dir: dir, fs: fsutil.OS{}, log: log.Named("keys"), now: time.Now,
		puppets: make(map[string]*openpgp.Entity)}
	e, err := loadSecret(filepath.Join(dir, domainFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open key store %s: %w", dir, err)
	}
	if err := s.setDomain(e); err != nil {
		return nil, fmt.Errorf("open key store %s: %w", dir, err)
	}
	return s, nil
}

// InitDomainKey returns the domain key for domain, generating and storing
// it if the store has none. A stored key for another domain is an error.
func (s *Store) InitDomainKey(domain string, now time.Time) (*openpgp.Entity, error) {
	domain = strings.ToLower(domain)
	if e, err := s.DomainKey(); err == nil {
		if s.domainName() != domain {
			return nil, fmt.Errorf("init domain key: store holds the key of %q, not %q", s.domainName(), domain)
		}
		return e, nil
	}
	e, err := GenerateDomainKey(domain, now)
	if err != nil {
		return nil, err
	}
	data, err := armorPrivate(e)
	if err != nil {
		return nil, err
	}
	err = fsutil.CreateNew(s.fs, s.dir, domainFile, data)
	if errors.Is(err, os.ErrExist) {
		if e, err = loadSecret(filepath.Join(s.dir, domainFile)); err != nil {
			return nil, fmt.Errorf("init domain key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("init domain key: %w", err)
	}
	if err := s.setDomain(e); err != nil {
		return nil, fmt.Errorf("init domain key: %w", err)
	}
	s.log.Info("domain key ready", zap.String("fingerprint", string(FingerprintOf(e))))
	return e, nil
}

// DomainKey returns the domain key, or ErrNoDomainKey.
func (s *Store) DomainKey() (*openpgp.Entity, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.domain == nil {
		return nil, ErrNoDomainKey
	}
	return s.domain, nil
}

func (s *Store) domainName() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.name
}

func (s *Store) setDomain(e *openpgp.Entity) error {
	name := ""
	for id := range e.Identities {
		if strings.HasPrefix(id, UserIDPrefix) {
			name = strings.TrimPrefix(id, UserIDPrefix)
		}
	}
	if name == "" {
		return fmt.Errorf("%w: domain key %s has no xmpp: user ID", ErrInvalidKey, FingerprintOf(e))
	}
	warm(e, s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.domain, s.name = e, name
	return nil
}

// loadSecret reads one unlocked secret key from path.
func loadSecret(path string) (*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	el, err := ReadKeys(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(el) != 1 || el[0].PrivateKey == nil || el[0].PrivateKey.Encrypted {
		return nil, fmt.Errorf("%w: %s must hold exactly one unlocked secret key", ErrInvalidKey, path)
	}
	return el[0], nil
}

// puppetFile names a puppet's key file after a hash of its JID, so no JID
// byte ever reaches the file system.
func puppetFile(jid string) string {
	sum := sha256.Sum256([]byte(jid))
	return filepath.Join(puppetDir, hex.EncodeToString(sum[:20])+".asc")
}

// warm runs go-crypto's lazy self-signature checks once, before e is
// shared: they cache their verdict in the signature (VerifiableSignature.Valid),
// a write that races when several goroutines first use one entity at the
// same time (two puppet keys certified by the domain key at once).
func warm(e *openpgp.Entity, now time.Time) {
	for _, id := range e.Identities {
		_, _ = id.Verify(now, nil)
	}
	for i := range e.Subkeys {
		_, _ = e.Subkeys[i].Verify(now, nil)
	}
	_, _ = e.PrimaryIdentity(now, nil)
	_, _ = e.CertificationKey(now, nil)
	_, _ = e.SigningKey(now, nil)
	_, _ = e.EncryptionKey(now, nil)
}
