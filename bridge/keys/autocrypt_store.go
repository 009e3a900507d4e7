package keys

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
)

// Limits of the Autocrypt peer store.
const (
	DefaultMaxAutocryptPeers = 10000    // peers kept; the least recently seen goes first
	MaxAutocryptKeyBytes     = 64 << 10 // a stored key, binary (Level 1 keys are a few KiB)
	maxAutocryptHeaders      = 8        // Autocrypt fields looked at in one message
)

// AutocryptConfig configures an AutocryptStore.
type AutocryptConfig struct {
	Dir      string // created 0700 if missing
	MaxPeers int    // default DefaultMaxAutocryptPeers
	Log      *zap.Logger
	Now      func() time.Time
	// Changed, if set, is called with the normalised address after a
	// peer's key was learned or replaced (e.g. to drop a resolver's cached
	// answer for it).
	Changed func(addr string)
	// HashAddr is how addresses appear in logs and errors; default a
	// randomly keyed one.
	HashAddr func(string) string
}

// AutocryptPeer is the Autocrypt Level 1 peer state of one address (§2.3).
type AutocryptPeer struct {
	Addr               string
	LastSeen           time.Time
	AutocryptTimestamp time.Time
	PreferEncrypt      string // "mutual" or "nopreference"
	Key                *openpgp.Entity
}

// AutocryptStore learns correspondents' keys from the Autocrypt headers of
// mail they send (Autocrypt Level 1 §2.3) and keeps one small 0600 file per
// address hash in its directory. It is a Source named "autocrypt".
//
// Autocrypt protects against passive adversaries only: anyone who can send
// mail with a forged From can plant a key. Pinned keys in the Keyring come
// first in the resolver's order.
type AutocryptStore struct {
	dir     string
	max     int
	log     *zap.Logger
	now     func() time.Time
	changed func(string)
	hash    func(string) string

	mu    sync.Mutex           // serialises Learn; Lookup reads files only
	index map[string]time.Time // file name -> last write, for eviction
}

// OpenAutocryptStore opens (creating if needed) the peer directory.
func OpenAutocryptStore(cfg AutocryptConfig) (*AutocryptStore, error) {
	s := &AutocryptStore{dir: cfg.Dir, max: cfg.MaxPeers, log: cfg.Log, now: cfg.Now, changed: cfg.Changed, hash: cfg.HashAddr}
	if s.hash == nil {
		s.hash = RandomAddressHasher()
	}
	if s.max <= 0 {
		s.max = DefaultMaxAutocryptPeers
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("autocrypt")
	if s.now == nil {
		s.now = time.Now
	}
	index, err := loadPeerIndex(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("open autocrypt store %s: %w", cfg.Dir, err)
	}
	s.index = index
	return s, nil
}

// Name implements Source.
func (s *AutocryptStore) Name() string { return "autocrypt" }

// Lookup implements Source: the key learned for addr if it is usable now;
// otherwise an error wrapping ErrNoKey (and the reason it is unusable).
func (s *AutocryptStore) Lookup(ctx context.Context, addr string) (*openpgp.Entity, error) {
	p, err := s.Peer(addr)
	if err != nil {
		return nil, err
	}
	if err := Usable(p.Key, s.now()); err != nil {
		return nil, fmt.Errorf("autocrypt: %w: %w", ErrNoKey, err)
	}
	return p.Key, nil
}

// Peer returns the stored peer state of addr, or an error wrapping ErrNoKey.
func (s *AutocryptStore) Peer(addr string) (*AutocryptPeer, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return nil, err
	}
	p, err := readPeer(s.dir, a)
	if err != nil { // unreadable state is no key, not a temporary failure
		s.log.Warn("unreadable autocrypt peer state", zap.String("addr", s.hash(a)), zap.Error(err))
		return nil, fmt.Errorf("autocrypt %s: %w: %w", s.hash(a), ErrNoKey, err)
	}
	if p == nil {
		return nil, fmt.Errorf("autocrypt: %w", ErrNoKey)
	}
	return p, nil
}

// Learn updates the peer state of from (the message's single From address)
// with a received message: date is its Date header (zero if absent) and
// headers the values of its Autocrypt header fields. The caller must not
// call it for a message with more than one From address (§2.3).
func (s *AutocryptStore) Learn(ctx context.Context, from string, date time.Time, headers []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("autocrypt learn: %w", err)
	}
	addr, err := NormalizeAddress(from)
	if err != nil {
		return fmt.Errorf("autocrypt learn: %w", err)
	}
	now := s.now()
	// §2.3: the effective date is the sooner of Date and receipt.
	if date.IsZero() || date.After(now) {
		date = now
	}
	ac := s.pick(addr, headers, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(addr, date, ac)
}

// pick returns the one valid Autocrypt header for addr with a usable key,
// or nil: headers for another address are invalid, and more than one valid
// header makes all of them invalid (§2.3).
func (s *AutocryptStore) pick(addr string, headers []string, now time.Time) *Autocrypt {
	if len(headers) > maxAutocryptHeaders {
		s.log.Info("autocrypt headers ignored: too many", zap.String("addr", s.hash(addr)),
			zap.Int("headers", len(headers)))
		return nil
	}
	var valid []*Autocrypt
	for _, h := range headers {
		ac, err := ParseAutocrypt(h)
		switch {
		case err != nil:
			s.log.Info("invalid autocrypt header ignored", zap.String("addr", s.hash(addr)), zap.Error(err))
		case ac.Addr != addr:
			s.log.Info("autocrypt header for another address ignored", zap.String("addr", s.hash(addr)),
				zap.String("header_addr", s.hash(ac.Addr)))
		default:
			valid = append(valid, ac)
		}
	}
	if len(valid) > 1 {
		s.log.Info("autocrypt headers ignored: more than one for the address", zap.String("addr", s.hash(addr)))
		return nil
	}
	if len(valid) == 0 {
		return nil
	}
	if err := s.acceptable(valid[0].Key, now); err != nil {
		s.log.Info("autocrypt key refused", zap.String("addr", s.hash(addr)), zap.Error(err))
		return nil
	}
	return valid[0]
}

// acceptable refuses keys that cannot be used or are too large to keep.
func (s *AutocryptStore) acceptable(e *openpgp.Entity, now time.Time) error {
	if err := Usable(e, now); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if buf.Len() > MaxAutocryptKeyBytes {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, buf.Len(), MaxAutocryptKeyBytes)
	}
	return nil
}

// update applies §2.3 to the stored state of addr. s.mu is held.
func (s *AutocryptStore) update(addr string, date time.Time, ac *Autocrypt) error {
	old, err := readPeer(s.dir, addr)
	if err != nil {
		s.log.Warn("unreadable autocrypt peer state replaced", zap.String("addr", s.hash(addr)), zap.Error(err))
		old = nil
	}
	if old == nil && ac == nil {
		return nil // no header from an unknown peer: nothing to remember
	}
	if old != nil && date.Before(old.AutocryptTimestamp) {
		return nil // older than the state we hold (§2.3)
	}
	p := &AutocryptPeer{Addr: addr}
	if old != nil {
		*p = *old
	}
	dirty := false
	if date.After(p.LastSeen) {
		p.LastSeen, dirty = date, true
	}
	if ac != nil {
		p.AutocryptTimestamp, p.PreferEncrypt, p.Key, dirty = date, ac.PreferEncrypt, ac.Key, true
	}
	if !dirty {
		return nil
	}
	if err := s.write(p); err != nil {
		return fmt.Errorf("autocrypt learn %s: %w", s.hash(addr), err)
	}
	if ac != nil {
		s.keyLearned(addr, old, ac.Key)
	}
	return nil
}

// keyLearned logs a new or changed key and tells cfg.Changed.
func (s *AutocryptStore) keyLearned(addr string, old *AutocryptPeer, e *openpgp.Entity) {
	fp := FingerprintOf(e)
	switch {
	case old == nil || old.Key == nil:
		s.log.Info("autocrypt key learned", zap.String("addr", s.hash(addr)), zap.String("fingerprint", string(fp)))
	case FingerprintOf(old.Key) != fp:
		s.log.Warn("autocrypt key changed", zap.String("addr", s.hash(addr)),
			zap.String("old", string(FingerprintOf(old.Key))), zap.String("new", string(fp)))
	default:
		return
	}
	if s.changed != nil {
		s.changed(addr)
	}
}
