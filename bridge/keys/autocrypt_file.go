package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/fsutil"
)

const (
	peerSuffix = ".peer"
	// maxPeerFileBytes bounds a peer file: base64 of the largest key plus
	// the other fields.
	maxPeerFileBytes = MaxAutocryptKeyBytes/3*4 + 4<<10
	peerFileVersion  = 1
)

// peerFile is the JSON form of an AutocryptPeer on disk.
type peerFile struct {
	V                  int       `json:"v"`
	Addr               string    `json:"addr"`
	LastSeen           time.Time `json:"last_seen"`
	AutocryptTimestamp time.Time `json:"autocrypt_timestamp"`
	PreferEncrypt      string    `json:"prefer_encrypt"`
	Key                []byte    `json:"public_key"` // binary transferable public key
}

// peerFileName names a peer's file after a hash of its address, so no
// address byte reaches the file system.
func peerFileName(addr string) string {
	sum := sha256.Sum256([]byte("autocrypt\x00" + addr))
	return hex.EncodeToString(sum[:20]) + peerSuffix
}

// readPeer reads the state of addr (normalised); nil, nil if there is none.
func readPeer(dir, addr string) (*AutocryptPeer, error) {
	f, err := os.Open(filepath.Join(dir, peerFileName(addr)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read peer state: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPeerFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read peer state: %w", err)
	}
	if len(data) > maxPeerFileBytes {
		return nil, fmt.Errorf("read peer state: %w", ErrTooLarge)
	}
	return decodePeer(data, addr)
}

func decodePeer(data []byte, addr string) (*AutocryptPeer, error) {
	var pf peerFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return nil, fmt.Errorf("decode peer state: %w", err)
	}
	if pf.V != peerFileVersion || pf.Addr != addr {
		return nil, fmt.Errorf("decode peer state: unexpected version %d or address", pf.V)
	}
	el, err := ParseKeys(pf.Key)
	if err != nil {
		return nil, fmt.Errorf("decode peer state: %w", err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("decode peer state: %w: %d keys", ErrInvalidKey, len(el))
	}
	return &AutocryptPeer{Addr: pf.Addr, LastSeen: pf.LastSeen, AutocryptTimestamp: pf.AutocryptTimestamp,
		PreferEncrypt: pf.PreferEncrypt, Key: el[0]}, nil
}

// write stores p (temp file, fsync, rename, directory fsync), first making
// room when p is a new peer and the store is full. s.mu is held.
func (s *AutocryptStore) write(p *AutocryptPeer) error {
	var key bytes.Buffer
	if err := p.Key.Serialize(&key); err != nil { // public part only
		return fmt.Errorf("serialise key: %w", err)
	}
	data, err := json.Marshal(peerFile{V: peerFileVersion, Addr: p.Addr, LastSeen: p.LastSeen.UTC(),
		AutocryptTimestamp: p.AutocryptTimestamp.UTC(), PreferEncrypt: p.PreferEncrypt, Key: key.Bytes()})
	if err != nil {
		return fmt.Errorf("encode peer state: %w", err)
	}
	name := peerFileName(p.Addr)
	if _, known := s.index[name]; !known && len(s.index) >= s.max {
		s.evict()
	}
	if err := fsutil.WriteAtomic(fsutil.OS{}, s.dir, name, data); err != nil {
		return err
	}
	s.index[name] = s.now()
	return nil
}

// evict removes the least recently written peers until there is room for
// one more. s.mu is held.
func (s *AutocryptStore) evict() {
	for len(s.index) >= s.max {
		var oldest string
		var at time.Time
		for name, t := range s.index {
			if oldest == "" || t.Before(at) {
				oldest, at = name, t
			}
		}
		if err := os.Remove(filepath.Join(s.dir, oldest)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("evict autocrypt peer", zap.String("file", oldest), zap.Error(err))
		}
		delete(s.index, oldest)
		s.log.Info("autocrypt peer evicted: store full", zap.String("file", oldest), zap.Int("max", s.max))
	}
}

// loadPeerIndex creates dir if needed and lists its peer files with their
// modification times.
func loadPeerIndex(dir string) (map[string]time.Time, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	index := make(map[string]time.Time)
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), peerSuffix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		index[e.Name()] = fi.ModTime()
	}
	return index, nil
}
