package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

// PuppetKey returns the key of puppetJID (a bare JID on the gateway's
// domain, e.g. `bob\40gmail.com@mail.example.org`), making, certifying and
// storing it on first use. Concurrent first uses make exactly one key.
func (s *Store) PuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error) {
	jid := strings.ToLower(puppetJID)
	if e := s.cachedPuppet(jid); e != nil {
		return e, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("puppet key: %w", err)
	}
	return s.flight.do(ctx, jid, func() (*openpgp.Entity, error) {
		return s.loadOrMakePuppet(jid)
	})
}

// ExistingPuppetKey returns the key of puppetJID if it has been made, or an
// error wrapping ErrNoPuppet; it never makes one. A caller acting for
// someone outside (an XEP-0373 query) uses it to answer for existing
// puppets freely and to ration new ones.
func (s *Store) ExistingPuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error) {
	jid := strings.ToLower(puppetJID)
	if e := s.cachedPuppet(jid); e != nil {
		return e, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("puppet key: %w", err)
	}
	e, err := s.loadPuppet(jid)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("puppet key of %s: %w", jid, ErrNoPuppet)
	}
	if err != nil {
		return nil, err
	}
	s.cachePuppet(jid, e)
	return e, nil
}

func (s *Store) cachedPuppet(jid string) *openpgp.Entity {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.puppets[jid]
}

func (s *Store) cachePuppet(jid string, e *openpgp.Entity) {
	warm(e, s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.puppets) >= maxCachedPuppets {
		for k := range s.puppets { // evict one arbitrary entry; files stay
			delete(s.puppets, k)
			break
		}
	}
	s.puppets[jid] = e
}

func (s *Store) loadOrMakePuppet(jid string) (*openpgp.Entity, error) {
	domain, err := s.DomainKey()
	if err != nil {
		return nil, fmt.Errorf("puppet key: %w", err)
	}
	if !strings.HasSuffix(jid, "@"+s.domainName()) {
		return nil, fmt.Errorf("puppet key: %w: %q is not on %s", ErrInvalidAddress, jid, s.domainName())
	}
	e, err := s.loadPuppet(jid)
	if errors.Is(err, os.ErrNotExist) {
		e, err = s.makePuppet(jid, domain)
	}
	if err != nil {
		return nil, err
	}
	s.cachePuppet(jid, e)
	return e, nil
}

func (s *Store) loadPuppet(jid string) (*openpgp.Entity, error) {
	e, err := loadSecret(filepath.Join(s.dir, puppetFile(jid)))
	if err != nil {
		return nil, err
	}
	if _, ok := e.Identities[UserIDPrefix+jid]; !ok {
		return nil, fmt.Errorf("puppet key: %w: %s is not the key of %s", ErrInvalidKey, puppetFile(jid), jid)
	}
	return e, nil
}

func (s *Store) makePuppet(jid string, domain *openpgp.Entity) (*openpgp.Entity, error) {
	e, err := GeneratePuppetKey(jid, domain, s.now())
	if err != nil {
		return nil, err
	}
	data, err := armorPrivate(e)
	if err != nil {
		return nil, err
	}
	// puppetFile is puppets/<hash>.asc: CreateNew links it there and fsyncs
	// puppets/, the directory that holds the new entry (M2).
	err = fsutil.CreateNew(s.fs, s.dir, puppetFile(jid), data)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return s.loadPuppet(jid)
	}
	if err != nil {
		return nil, fmt.Errorf("store puppet key: %w", err)
	}
	s.log.Debug("puppet key made", zap.String("fingerprint", string(FingerprintOf(e))))
	return e, nil
}
