package omemo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/serialize"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/util/keyhelper"
)

// numPreKeys is how many one-time prekeys a device publishes; a used one
// is replaced at once (Conversations and Dino publish 100).
const numPreKeys = 100

var ser = serialize.NewProtoBufSerializer()

// stateFile is a device's durable state, one JSON file.
type stateFile struct {
	Version      int               `json:"v"`
	JID          string            `json:"jid"`
	DeviceID     uint32            `json:"device_id"`
	IdentityPriv []byte            `json:"identity_priv"`
	IdentityPub  []byte            `json:"identity_pub"`
	SignedPreKey keyRec            `json:"signed_prekey"`
	PreKeys      map[uint32]keyRec `json:"prekeys"`
	NextPreKeyID uint32            `json:"next_prekey_id"`
	Sessions     map[string][]byte `json:"sessions"`   // "jid/device" → record
	Identities   map[string][]byte `json:"identities"` // "jid/device" → 33-byte key (BTBV)
}

// keyRec is a prekey pair. libsignal's own record serialisation is not
// used: v0.2.1 reads the 33-byte public key back as 32 bytes including
// the type byte, so a reloaded key no longer matches its signature.
type keyRec struct {
	ID        uint32 `json:"id"`
	Pub       []byte `json:"pub"`  // 32 bytes, Curve25519
	Priv      []byte `json:"priv"` // 32 bytes
	Signature []byte `json:"sig,omitempty"`
	Timestamp int64  `json:"ts,omitempty"`
}

func recOf(id uint32, kp *ecc.ECKeyPair) keyRec {
	pub := kp.PublicKey().PublicKey()
	priv := kp.PrivateKey().Serialize()
	return keyRec{ID: id, Pub: pub[:], Priv: priv[:]}
}

func (k keyRec) pair() (*ecc.ECKeyPair, error) {
	if len(k.Pub) != 32 || len(k.Priv) != 32 {
		return nil, fmt.Errorf("omemo: device state: bad prekey %d", k.ID)
	}
	return ecc.NewECKeyPair(ecc.NewDjbECPublicKey([32]byte(k.Pub)), ecc.NewDjbECPrivateKey([32]byte(k.Priv))), nil
}

func (k keyRec) preKey() (*record.PreKey, error) {
	kp, err := k.pair()
	if err != nil {
		return nil, err
	}
	return record.NewPreKey(k.ID, kp, ser.PreKeyRecord), nil
}

func (k keyRec) signedPreKey() (*record.SignedPreKey, error) {
	kp, err := k.pair()
	if err != nil || len(k.Signature) != 64 {
		return nil, fmt.Errorf("omemo: device state: bad signed prekey")
	}
	return record.NewSignedPreKey(k.ID, k.Timestamp, kp, [64]byte(k.Signature), ser.SignedPreKeyRecord), nil
}

// device is a loaded stateFile implementing libsignal's stores. It is
// used for one operation and then serialised: the durable bytes are the
// truth, so a failed save leaves nothing advanced in memory.
type device struct {
	st  stateFile
	kp  *identity.KeyPair
	log func(msg, addr string, old, new []byte) // identity changes
}

func addrKey(a *protocol.SignalAddress) string {
	return a.Name() + "/" + strconv.FormatUint(uint64(a.DeviceID()), 10)
}

func newState(jid string) (*stateFile, error) {
	kp, err := keyhelper.GenerateIdentityKeyPair()
	if err != nil {
		return nil, err
	}
	var idb [4]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	id := binary.BigEndian.Uint32(idb[:])&maxDeviceID | 1
	spk, err := keyhelper.GenerateSignedPreKey(kp, 1, ser.SignedPreKeyRecord)
	if err != nil {
		return nil, err
	}
	priv := kp.PrivateKey().Serialize()
	srec := recOf(spk.ID(), spk.KeyPair())
	sig := spk.Signature()
	srec.Signature, srec.Timestamp = sig[:], spk.Timestamp()
	st := &stateFile{Version: 1, JID: jid, DeviceID: id, IdentityPriv: priv[:],
		IdentityPub: kp.PublicKey().Serialize(), SignedPreKey: srec,
		PreKeys: map[uint32]keyRec{}, NextPreKeyID: 1,
		Sessions: map[string][]byte{}, Identities: map[string][]byte{}}
	if err := st.refill(); err != nil {
		return nil, err
	}
	return st, nil
}

// refill tops the one-time prekeys up to numPreKeys.
func (st *stateFile) refill() error {
	for len(st.PreKeys) < numPreKeys {
		kp, err := ecc.GenerateKeyPair()
		if err != nil {
			return err
		}
		id := st.NextPreKeyID
		st.NextPreKeyID++
		if st.NextPreKeyID > 0xFFFFFF { // libsignal's Medium.MAX_VALUE
			st.NextPreKeyID = 1
		}
		st.PreKeys[id] = recOf(id, kp)
	}
	return nil
}

func loadDevice(data []byte) (*device, error) {
	d := &device{}
	if err := json.Unmarshal(data, &d.st); err != nil {
		return nil, fmt.Errorf("omemo: device state: %w", err)
	}
	if len(d.st.IdentityPriv) != 32 {
		return nil, fmt.Errorf("omemo: device state: bad identity key")
	}
	pub, err := ecc.DecodePoint(d.st.IdentityPub, 0)
	if err != nil {
		return nil, fmt.Errorf("omemo: device state: %w", err)
	}
	d.kp = identity.NewKeyPair(identity.NewKey(pub), ecc.NewDjbECPrivateKey([32]byte(d.st.IdentityPriv)))
	if d.st.PreKeys == nil {
		d.st.PreKeys = map[uint32]keyRec{}
	}
	if d.st.Sessions == nil {
		d.st.Sessions = map[string][]byte{}
	}
	if d.st.Identities == nil {
		d.st.Identities = map[string][]byte{}
	}
	return d, nil
}

func (d *device) marshal() ([]byte, error) { return json.Marshal(&d.st) }

// bundle is the device's public bundle.
func (d *device) bundle() (*Bundle, error) {
	spk, err := d.st.SignedPreKey.signedPreKey()
	if err != nil {
		return nil, err
	}
	sig := spk.Signature()
	b := &Bundle{SignedPreKeyID: spk.ID(), SignedPreKey: spk.KeyPair().PublicKey().Serialize(),
		SignedPreKeySig: sig[:], IdentityKey: d.st.IdentityPub}
	ids := make([]uint32, 0, len(d.st.PreKeys))
	for id := range d.st.PreKeys {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		pk, err := d.st.PreKeys[id].preKey()
		if err != nil {
			return nil, err
		}
		b.PreKeys = append(b.PreKeys, PreKeyPublic{ID: id, Key: pk.KeyPair().PublicKey().Serialize()})
	}
	return b, nil
}

// Fingerprint is an identity key as clients show it: the 32 key bytes
// (without the 0x05 type byte) in hex, in groups of 8.
func Fingerprint(identityKey []byte) string {
	k := identityKey
	if len(k) == 33 {
		k = k[1:]
	}
	h := hex.EncodeToString(k)
	var b strings.Builder
	for i := 0; i < len(h); i += 8 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i:min(i+8, len(h))])
	}
	return b.String()
}

// --- libsignal store interfaces ---

func (d *device) GetIdentityKeyPair() *identity.KeyPair { return d.kp }
func (d *device) GetLocalRegistrationID() uint32        { return d.st.DeviceID }

func (d *device) SaveIdentity(_ context.Context, a *protocol.SignalAddress, k *identity.Key) error {
	key := addrKey(a)
	nk := k.Serialize()
	if old := d.st.Identities[key]; old != nil && !bytes.Equal(old, nk) && d.log != nil {
		d.log("identity key changed", key, old, nk)
	}
	d.st.Identities[key] = nk
	return nil
}

// IsTrustedIdentity is blind trust before verification (BTBV, as
// Conversations): any key is accepted; a change is logged by SaveIdentity.
func (d *device) IsTrustedIdentity(context.Context, *protocol.SignalAddress, *identity.Key) (bool, error) {
	return true, nil
}

func (d *device) LoadPreKey(_ context.Context, id uint32) (*record.PreKey, error) {
	k, ok := d.st.PreKeys[id]
	if !ok {
		return nil, fmt.Errorf("omemo: no prekey %d", id)
	}
	return k.preKey()
}
func (d *device) StorePreKey(_ context.Context, id uint32, r *record.PreKey) error {
	d.st.PreKeys[id] = recOf(id, r.KeyPair())
	return nil
}
func (d *device) ContainsPreKey(_ context.Context, id uint32) (bool, error) {
	_, ok := d.st.PreKeys[id]
	return ok, nil
}
func (d *device) RemovePreKey(_ context.Context, id uint32) error {
	delete(d.st.PreKeys, id)
	return nil
}

func (d *device) LoadSignedPreKey(_ context.Context, id uint32) (*record.SignedPreKey, error) {
	r, err := d.st.SignedPreKey.signedPreKey()
	if err != nil {
		return nil, err
	}
	if r.ID() != id {
		return nil, fmt.Errorf("omemo: no signed prekey %d", id)
	}
	return r, nil
}
func (d *device) LoadSignedPreKeys(ctx context.Context) ([]*record.SignedPreKey, error) {
	r, err := d.st.SignedPreKey.signedPreKey()
	if err != nil {
		return nil, err
	}
	return []*record.SignedPreKey{r}, nil
}
func (d *device) StoreSignedPreKey(_ context.Context, _ uint32, r *record.SignedPreKey) error {
	rec := recOf(r.ID(), r.KeyPair())
	sig := r.Signature()
	rec.Signature, rec.Timestamp = sig[:], r.Timestamp()
	d.st.SignedPreKey = rec
	return nil
}
func (d *device) ContainsSignedPreKey(ctx context.Context, id uint32) (bool, error) {
	_, err := d.LoadSignedPreKey(ctx, id)
	return err == nil, nil
}
func (d *device) RemoveSignedPreKey(context.Context, uint32) error { return nil }

func (d *device) LoadSession(_ context.Context, a *protocol.SignalAddress) (*record.Session, error) {
	if b, ok := d.st.Sessions[addrKey(a)]; ok {
		return record.NewSessionFromBytes(b, ser.Session, ser.State)
	}
	return record.NewSession(ser.Session, ser.State), nil
}
func (d *device) GetSubDeviceSessions(_ context.Context, name string) ([]uint32, error) {
	var ids []uint32
	for k := range d.st.Sessions {
		if n, id, ok := strings.Cut(k, "/"); ok && n == name {
			if v, err := strconv.ParseUint(id, 10, 32); err == nil {
				ids = append(ids, uint32(v))
			}
		}
	}
	return ids, nil
}
func (d *device) StoreSession(_ context.Context, a *protocol.SignalAddress, r *record.Session) error {
	d.st.Sessions[addrKey(a)] = r.Serialize()
	return nil
}
func (d *device) ContainsSession(_ context.Context, a *protocol.SignalAddress) (bool, error) {
	_, ok := d.st.Sessions[addrKey(a)]
	return ok, nil
}
func (d *device) DeleteSession(_ context.Context, a *protocol.SignalAddress) error {
	delete(d.st.Sessions, addrKey(a))
	return nil
}
func (d *device) DeleteAllSessions(context.Context) error {
	d.st.Sessions = map[string][]byte{}
	return nil
}
