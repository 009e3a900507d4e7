package pep

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
)

// PuppetKeys gives the key of a puppet JID (bob\40gmail.com@mail.example.org):
// PuppetKey makes it on first use, ExistingPuppetKey only returns one
// already made (else an error wrapping keys.ErrNoPuppet). *keys.Store
// implements it.
type PuppetKeys interface {
	PuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error)
	ExistingPuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error)
}

// ResponderConfig configures a Responder. Domain and Keys are required.
type ResponderConfig struct {
	Domain string     // the component's domain, e.g. mail.example.org
	Keys   PuppetKeys // only public key material is ever served
	Name   string     // disco#info identity name; default "Passerelle"
	// Features are extra disco#info features of the domain (other
	// packages' handlers on the same Mux).
	Features []string
	// Forms are XEP-0128 extended-information forms of the domain's
	// disco#info (e.g. bridge/peermsg.Info.FormTokens), as tokens.
	Forms [][]xml.Token
	// OMEMO, if set, answers puppets' OMEMO 0.3 device list and bundle.
	OMEMO   OMEMODevices
	Timeout time.Duration // one PuppetKey call; default 10 s
	Log     *zap.Logger   // nil: no logging

	// IsLocal reports whether a bare JID is a user of this provider. Only
	// a local user's query may make a puppet key that does not exist yet
	// (their OX client fetches a new correspondent's key before the first
	// message), and only within NewPuppets; anyone else is answered for
	// existing puppets only. nil: nobody is local.
	IsLocal    func(bare jid.JID) bool
	NewPuppets NewPuppetLimits
	Now        func() time.Time // nil: time.Now
}

// Responder answers, for the component, XEP-0373 §4 key queries addressed
// to puppet JIDs and XEP-0030 disco#info queries.
type Responder struct {
	cfg        ResponderConfig
	domain     jid.JID
	log        *zap.Logger
	newPuppets *newPuppets
}

// NewResponder checks cfg and returns a Responder.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	if cfg.Keys == nil {
		return nil, errors.New("pep: ResponderConfig needs Keys")
	}
	domain, err := jid.Parse(cfg.Domain)
	if err != nil || domain.Localpart() != "" || domain.Resourcepart() != "" {
		return nil, errors.New("pep: ResponderConfig needs a domain JID")
	}
	if cfg.Name == "" {
		cfg.Name = "Passerelle"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.IsLocal == nil {
		cfg.IsLocal = func(jid.JID) bool { return false }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := zap.NewNop()
	if cfg.Log != nil {
		log = cfg.Log.Named("pep")
	}
	return &Responder{cfg: cfg, domain: domain, log: log, newPuppets: newNewPuppets(cfg.NewPuppets, cfg.Now)}, nil
}

// Register installs the pubsub items and disco#info handlers on mux.
func (r *Responder) Register(mux *xmpp.Mux) {
	mux.HandleIQ(stanza.GetIQ, xml.Name{Space: NSPubsub, Local: "pubsub"}, r.handlePubsub)
	mux.HandleIQ(stanza.GetIQ, xml.Name{Space: NSDiscoInfo, Local: "query"}, r.handleDiscoInfo)
}

// puppet returns the bare puppet JID to addresses, if it is one.
func (r *Responder) puppet(to jid.JID) (jid.JID, bool) {
	if to.Localpart() == "" || to.Domainpart() != r.domain.Domainpart() {
		return jid.JID{}, false
	}
	if _, err := jidesc.EmailFromPuppet(to.Bare()); err != nil {
		return jid.JID{}, false
	}
	return to.Bare(), true
}

// puppetKey returns p's key for a query from from. An existing key is
// always served. A missing one is made only if create is set (a metadata
// query: a key node names a fingerprint, which a key not yet made cannot
// have), for a local requester, within the NewPuppets limits; otherwise
// item-not-found (nothing published there, XEP-0060 §6.5.9.11) for others
// and resource-constraint (wait: the client may ask again later) over a
// limit. Failures become internal-server-error.
func (r *Responder) puppetKey(ctx context.Context, from, p jid.JID, create bool) (*openpgp.Entity, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	e, err := r.cfg.Keys.ExistingPuppetKey(ctx, p.String())
	switch {
	case err == nil && e != nil && e.PrimaryKey != nil:
		return e, nil
	case !errors.Is(err, keys.ErrNoPuppet):
		r.log.Error("puppet key unavailable", zap.Error(err))
		return nil, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
	case !create || from.Localpart() == "" || !r.cfg.IsLocal(from.Bare()):
		return nil, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
	}
	if limit, ok := r.newPuppets.allow(from, mailDomain(p)); !ok {
		r.log.Info("new puppet key refused: over a limit", zap.String("limit", limit),
			zap.String("requester_domain", from.Domainpart()))
		return nil, stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint,
			Text: map[string]string{"": "Too many new correspondents at once; try again later."}}
	}
	e, err = r.cfg.Keys.PuppetKey(ctx, p.String())
	if err != nil || e == nil || e.PrimaryKey == nil {
		r.log.Error("puppet key unavailable", zap.Error(err))
		return nil, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
	}
	return e, nil
}

// mailDomain is the domain of the address p stands for.
func mailDomain(p jid.JID) string {
	email, err := jidesc.EmailFromPuppet(p)
	if err != nil {
		return ""
	}
	return email[strings.LastIndexByte(email, '@')+1:]
}

func stanzaErr(typ stanza.ErrorType, cond stanza.Condition) error {
	return stanza.Error{Type: typ, Condition: cond}
}
