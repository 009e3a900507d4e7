package omemo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"crypto/rand"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/util/optional"
	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

// maxCached bounds the device states kept in memory; files stay.
const maxCached = 4096

// StoreConfig configures a Store. Dir is required.
type StoreConfig struct {
	Dir string    // one file per puppet device, mode 0600
	FS  fsutil.FS // default fsutil.OS{}
	Log *zap.Logger
}

// Store keeps the OMEMO devices of puppet JIDs, one durable file each.
// Operations on one device are serialised; each one that changes its
// state returns only after the new state is fsynced.
type Store struct {
	cfg   StoreConfig
	log   *zap.Logger
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	cache map[string][]byte // last durable state per JID
}

// NewStore makes cfg.Dir if needed and returns a Store.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("omemo: StoreConfig needs Dir")
	}
	if cfg.FS == nil {
		cfg.FS = fsutil.OS{}
	}
	if err := fsutil.MkdirAll(cfg.FS, cfg.Dir); err != nil {
		return nil, fmt.Errorf("omemo: store: %w", err)
	}
	log := zap.NewNop()
	if cfg.Log != nil {
		log = cfg.Log.Named("omemo")
	}
	return &Store{cfg: cfg, log: log, locks: map[string]*sync.Mutex{}, cache: map[string][]byte{}}, nil
}

// Info is a device's public side.
type Info struct {
	JID         string
	DeviceID    uint32
	Bundle      *Bundle
	Fingerprint string
}

func fileName(jid string) string {
	sum := sha256.Sum256([]byte(jid))
	return hex.EncodeToString(sum[:16]) + ".json"
}

func (s *Store) lock(jid string) func() {
	s.mu.Lock()
	l, ok := s.locks[jid]
	if !ok {
		l = &sync.Mutex{}
		s.locks[jid] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// load returns jid's device, made (and made durable) on first use. Called
// with jid's lock held.
func (s *Store) load(ctx context.Context, jid string) (*device, error) {
	return s.loadOrMake(ctx, jid, true)
}

func (s *Store) loadOrMake(ctx context.Context, jid string, create bool) (*device, error) {
	s.mu.Lock()
	data, ok := s.cache[jid]
	s.mu.Unlock()
	if !ok {
		var err error
		data, err = os.ReadFile(filepath.Join(s.cfg.Dir, fileName(jid)))
		if errors.Is(err, fs.ErrNotExist) && !create {
			return nil, ErrNoDevice
		}
		if errors.Is(err, fs.ErrNotExist) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			st, err := newState(jid)
			if err != nil {
				return nil, fmt.Errorf("omemo: new device: %w", err)
			}
			d := &device{st: *st}
			if d, err = s.save(d); err != nil {
				return nil, err
			}
			s.log.Info("puppet device created", zap.Uint32("device", d.st.DeviceID))
			return s.withLog(d), nil
		}
		if err != nil {
			return nil, fmt.Errorf("omemo: device state: %w", err)
		}
	}
	d, err := loadDevice(data)
	if err != nil {
		return nil, err
	}
	if d.st.JID != jid {
		return nil, fmt.Errorf("omemo: device file of %q holds another JID", jid)
	}
	s.remember(jid, data)
	return s.withLog(d), nil
}

func (s *Store) withLog(d *device) *device {
	d.log = func(msg, addr string, old, nk []byte) {
		s.log.Warn(msg, zap.String("device", addr[strings.LastIndexByte(addr, '/')+1:]),
			zap.String("old", Fingerprint(old)), zap.String("new", Fingerprint(nk)))
	}
	return d
}

func (s *Store) remember(jid string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[jid]; !ok && len(s.cache) >= maxCached {
		for k := range s.cache {
			delete(s.cache, k)
			break
		}
	}
	s.cache[jid] = data
}

// save writes d durably (temp file, fsync, rename, fsync dir) and returns
// it reloaded from the bytes written.
func (s *Store) save(d *device) (*device, error) {
	data, err := d.marshal()
	if err != nil {
		return nil, fmt.Errorf("omemo: device state: %w", err)
	}
	if err := fsutil.WriteAtomic(s.cfg.FS, s.cfg.Dir, fileName(d.st.JID), data); err != nil {
		return nil, fmt.Errorf("omemo: save device state: %w", err)
	}
	s.remember(d.st.JID, data)
	return loadDevice(data)
}

// ErrNoDevice: the puppet has no device yet (ExistingDevice).
var ErrNoDevice = errors.New("omemo: puppet has no device")

// Device returns puppet's device, creating it on first use.
func (s *Store) Device(ctx context.Context, puppet string) (Info, error) {
	return s.device(ctx, puppet, true)
}

// ExistingDevice returns puppet's device, or ErrNoDevice: it never makes one.
func (s *Store) ExistingDevice(ctx context.Context, puppet string) (Info, error) {
	return s.device(ctx, puppet, false)
}

func (s *Store) device(ctx context.Context, puppet string, create bool) (Info, error) {
	puppet = strings.ToLower(puppet)
	defer s.lock(puppet)()
	d, err := s.loadOrMake(ctx, puppet, create)
	if err != nil {
		return Info{}, err
	}
	b, err := d.bundle()
	if err != nil {
		return Info{}, fmt.Errorf("omemo: bundle: %w", err)
	}
	return Info{JID: puppet, DeviceID: d.st.DeviceID, Bundle: b, Fingerprint: Fingerprint(d.st.IdentityPub)}, nil
}

// HasSessions reports whether puppet has a session with every one of
// to's devices (false also when the puppet has no device yet).
func (s *Store) HasSessions(ctx context.Context, puppet, to string, devices []uint32) bool {
	puppet, to = strings.ToLower(puppet), strings.ToLower(to)
	defer s.lock(puppet)()
	d, err := s.loadOrMake(ctx, puppet, false)
	if err != nil {
		return false
	}
	for _, id := range devices {
		if ok, _ := d.ContainsSession(ctx, protocol.NewSignalAddress(to, id)); !ok {
			return false
		}
	}
	return true
}

// BundleFetcher fetches a recipient device's published bundle.
type BundleFetcher func(ctx context.Context, deviceID uint32) (*Bundle, error)

// Encrypt encrypts body from puppet to each of the recipient's devices,
// building sessions from their bundles where none exists. Devices whose
// bundle cannot be had are skipped (logged); none left is ErrNoDevices.
// The advanced session state is durable when Encrypt returns.
func (s *Store) Encrypt(ctx context.Context, puppet, to string, devices []uint32, fetch BundleFetcher, body []byte) (*Encrypted, error) {
	puppet, to = strings.ToLower(puppet), strings.ToLower(to)
	defer s.lock(puppet)()
	d, err := s.load(ctx, puppet)
	if err != nil {
		return nil, err
	}
	keyTag, iv, ct, err := sealPayload(body)
	if err != nil {
		return nil, fmt.Errorf("omemo: payload: %w", err)
	}
	e := &Encrypted{SID: d.st.DeviceID, IV: iv, Payload: ct}
	var errs []error
	for _, rid := range devices {
		k, err := s.encryptKey(ctx, d, to, rid, fetch, keyTag)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.log.Warn("recipient device skipped", zap.Uint32("device", rid), zap.Error(err))
			errs = append(errs, err)
			continue
		}
		e.Keys = append(e.Keys, k)
	}
	if len(e.Keys) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoDevices, errors.Join(errs...))
	}
	if _, err := s.save(d); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *Store) encryptKey(ctx context.Context, d *device, to string, rid uint32, fetch BundleFetcher, keyTag []byte) (Key, error) {
	addr := protocol.NewSignalAddress(to, rid)
	builder := session.NewBuilder(d, d, d, d, addr, ser)
	if ok, _ := d.ContainsSession(ctx, addr); !ok {
		b, err := fetch(ctx, rid)
		if err != nil {
			return Key{}, fmt.Errorf("bundle of device %d: %w", rid, err)
		}
		pb, err := signalBundle(rid, b)
		if err != nil {
			return Key{}, fmt.Errorf("bundle of device %d: %w", rid, err)
		}
		if err := builder.ProcessBundle(ctx, pb); err != nil {
			return Key{}, fmt.Errorf("session with device %d: %w", rid, err)
		}
		s.log.Info("session built", zap.Uint32("device", rid), zap.String("identity", Fingerprint(b.IdentityKey)))
	}
	msg, err := session.NewCipher(builder, addr).Encrypt(ctx, keyTag)
	if err != nil {
		return Key{}, fmt.Errorf("encrypt for device %d: %w", rid, err)
	}
	return Key{RID: rid, PreKey: msg.Type() == protocol.PREKEY_TYPE, Data: msg.Serialize()}, nil
}

// KeyTransport rebuilds puppet's sessions with the given devices of to
// from their bundles, replacing any session there was, and returns a key
// transport message (XEP-0384 v0.3 §4.6: an <encrypted/> without
// payload) that carries the new sessions to those devices. It repairs a
// session the gateway can no longer decrypt on. Durable on return.
func (s *Store) KeyTransport(ctx context.Context, puppet, to string, devices []uint32, fetch BundleFetcher) (*Encrypted, error) {
	puppet, to = strings.ToLower(puppet), strings.ToLower(to)
	defer s.lock(puppet)()
	d, err := s.load(ctx, puppet)
	if err != nil {
		return nil, err
	}
	keyTag := make([]byte, keySize+tagSize)
	iv := make([]byte, ivSize)
	if _, err := rand.Read(keyTag); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	e := &Encrypted{SID: d.st.DeviceID, IV: iv}
	var errs []error
	for _, rid := range devices {
		_ = d.DeleteSession(ctx, protocol.NewSignalAddress(to, rid))
		k, err := s.encryptKey(ctx, d, to, rid, fetch, keyTag)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.Keys = append(e.Keys, k)
	}
	if len(e.Keys) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoDevices, errors.Join(errs...))
	}
	if _, err := s.save(d); err != nil {
		return nil, err
	}
	s.log.Info("session rebuilt with a key transport message", zap.Int("devices", len(e.Keys)))
	return e, nil
}

// signalBundle turns a published bundle into libsignal's, with one of its
// prekeys chosen at random (XEP-0384 v0.3 §4.4).
func signalBundle(rid uint32, b *Bundle) (*prekey.Bundle, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(b.PreKeys))))
	if err != nil {
		return nil, err
	}
	pk := b.PreKeys[n.Int64()]
	pkPub, err1 := ecc.DecodePoint(pk.Key, 0)
	spk, err2 := ecc.DecodePoint(b.SignedPreKey, 0)
	ik, err3 := ecc.DecodePoint(b.IdentityKey, 0)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return prekey.NewBundle(rid, rid, optional.NewOptionalUint32(pk.ID), b.SignedPreKeyID,
		pkPub, spk, [64]byte(b.SignedPreKeySig), identity.NewKey(ik)), nil
}

// Decrypt opens e, sent by from's device e.SID to puppet. A PreKey
// message builds the session (its one-time prekey is consumed and
// replaced). It returns the body (nil for a key transport message, which
// only sets up or repairs the session). The new state is durable first.
func (s *Store) Decrypt(ctx context.Context, puppet, from string, e *Encrypted) ([]byte, error) {
	puppet, from = strings.ToLower(puppet), strings.ToLower(from)
	defer s.lock(puppet)()
	d, err := s.load(ctx, puppet)
	if err != nil {
		return nil, err
	}
	var k *Key
	for i := range e.Keys {
		if e.Keys[i].RID == d.st.DeviceID {
			k = &e.Keys[i]
			break
		}
	}
	if k == nil {
		return nil, ErrNotForUs
	}
	addr := protocol.NewSignalAddress(from, e.SID)
	builder := session.NewBuilder(d, d, d, d, addr, ser)
	c := session.NewCipher(builder, addr)
	var keyTag []byte
	if k.PreKey {
		m, err := protocol.NewPreKeySignalMessageFromBytes(k.Data, ser.PreKeySignalMessage, ser.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("%w: prekey message: %w", ErrDecrypt, err)
		}
		if keyTag, err = c.DecryptMessage(ctx, m); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
		if err := d.st.refill(); err != nil {
			return nil, err
		}
	} else {
		m, err := protocol.NewSignalMessageFromBytes(k.Data, ser.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("%w: message: %w", ErrDecrypt, err)
		}
		if keyTag, err = c.Decrypt(ctx, m); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
	}
	var body []byte
	if e.Payload != nil {
		if body, err = openPayload(keyTag, e.IV, e.Payload); err != nil {
			return nil, err
		}
	}
	if _, err := s.save(d); err != nil {
		return nil, err
	}
	return body, nil
}
