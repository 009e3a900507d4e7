package pep

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
)

// Querier sends an IQ get or set and returns the children of the result,
// or an *xmpp.Error for an error answer. *xmpp.Component implements it.
type Querier interface {
	IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error)
}

// SourceConfig configures a Source. Client is required.
type SourceConfig struct {
	Client Querier
	// JIDOf maps a local user's email address to the JID whose PEP nodes
	// hold the key; nil means the address is the JID (BRIEF: identity model).
	JIDOf   func(addr string) (jid.JID, error)
	Timeout time.Duration // one whole Lookup; default 10 s
	Log     *zap.Logger   // nil: no logging
	// HashAddr is how addresses appear in logs and errors; default a
	// randomly keyed one (keys.InstallSecret.AddressHasher).
	HashAddr func(string) string
}

// Source finds a local user's published key in their XEP-0373 PEP nodes.
// It implements keys.Source.
type Source struct {
	cfg SourceConfig
	log *zap.Logger
}

// NewSource returns a Source for cfg.
func NewSource(cfg SourceConfig) *Source {
	if cfg.JIDOf == nil {
		cfg.JIDOf = jid.Parse
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HashAddr == nil {
		cfg.HashAddr = keys.RandomAddressHasher()
	}
	log := zap.NewNop()
	if cfg.Log != nil {
		log = cfg.Log.Named("pep")
	}
	return &Source{cfg: cfg, log: log}
}

// Name implements keys.Source.
func (s *Source) Name() string { return sourceName }

// Lookup returns the newest key addr's JID announces (XEP-0373 §4).
// Errors wrap keys.ErrNoKey (ErrNotPublished, ErrNotAccessible),
// keys.ErrInvalidKey (ErrMalformed, ErrFingerprintMismatch) or
// keys.ErrAddressMismatch, or are a *keys.TemporaryError.
func (s *Source) Lookup(ctx context.Context, addr string) (*openpgp.Entity, error) {
	j, err := s.cfg.JIDOf(addr)
	if err != nil || j.Localpart() == "" {
		return nil, fmt.Errorf("pep: no JID for %s: %w (%v)", s.cfg.HashAddr(addr), keys.ErrNoKey, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	j = j.Bare()
	metas, err := s.metadata(ctx, j)
	if err != nil {
		return nil, err
	}
	e, err := s.key(ctx, j, metas[0].Fingerprint)
	if err != nil {
		return nil, err
	}
	s.log.Debug("key found", zap.String("addr", s.cfg.HashAddr(addr)),
		zap.String("fingerprint", metas[0].Fingerprint))
	return e, nil
}

func (s *Source) metadata(ctx context.Context, j jid.JID) ([]Metadata, error) {
	r, err := s.items(ctx, j, NodeMetadata)
	if err != nil {
		return nil, mapError("metadata node", err)
	}
	return parseMetadata(r)
}

func (s *Source) key(ctx context.Context, j jid.JID, fpr string) (*openpgp.Entity, error) {
	r, err := s.items(ctx, j, KeyNode(fpr))
	if err != nil {
		return nil, mapError("key node "+fpr, err)
	}
	data, err := parsePubkey(r)
	if err != nil {
		return nil, err
	}
	return checkKey(data, fpr, j)
}

// items asks j for the newest item of node (XEP-0060 §6.5.7).
func (s *Source) items(ctx context.Context, j jid.JID, node string) (xml.TokenReader, error) {
	req := xmlstream.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "items"}, Attr: []xml.Attr{
			{Name: xml.Name{Local: "node"}, Value: node},
			{Name: xml.Name{Local: "max_items"}, Value: "1"},
		}}),
		xml.StartElement{Name: xml.Name{Space: NSPubsub, Local: "pubsub"}},
	)
	return s.cfg.Client.IQ(ctx, stanza.IQ{To: j, Type: stanza.GetIQ}, req)
}

// checkKey parses data and returns the key with fingerprint fpr, which
// must carry the user ID xmpp:<j> (XEP-0373 §4).
func checkKey(data []byte, fpr string, j jid.JID) (*openpgp.Entity, error) {
	el, err := keys.ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("pep: key %s: %w", fpr, err)
	}
	for _, e := range el {
		if strings.EqualFold(string(keys.FingerprintOf(e)), fpr) {
			if err := checkUserID(e, fpr, j); err != nil {
				return nil, err
			}
			return e, nil
		}
	}
	return nil, fmt.Errorf("%w: announced %s, got %s", ErrFingerprintMismatch, fpr, keys.FingerprintOf(el[0]))
}

func checkUserID(e *openpgp.Entity, fpr string, j jid.JID) error {
	want := keys.UserIDPrefix + j.String()
	for name := range e.Identities {
		if strings.EqualFold(name, want) {
			return nil
		}
	}
	return fmt.Errorf("pep: key %s: %w: no user ID %s", fpr, keys.ErrAddressMismatch, want)
}
