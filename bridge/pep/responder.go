package pep

import (
	"context"
	"encoding/xml"
	"errors"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/xmpp"
)

// PuppetKeys gives the key of a puppet JID (bob\40gmail.com@mail.example.org),
// made on first use. *keys.Store implements it.
type PuppetKeys interface {
	PuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error)
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
	Forms   [][]xml.Token
	Timeout time.Duration // one PuppetKey call; default 10 s
	Log     *zap.Logger   // nil: no logging
}

// Responder answers, for the component, XEP-0373 §4 key queries addressed
// to puppet JIDs and XEP-0030 disco#info queries.
type Responder struct {
	cfg    ResponderConfig
	domain jid.JID
	log    *zap.Logger
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
	log := zap.NewNop()
	if cfg.Log != nil {
		log = cfg.Log.Named("pep")
	}
	return &Responder{cfg: cfg, domain: domain, log: log}, nil
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

// puppetKey fetches p's key; failures become internal-server-error.
func (r *Responder) puppetKey(ctx context.Context, p jid.JID) (*openpgp.Entity, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	e, err := r.cfg.Keys.PuppetKey(ctx, p.String())
	if err != nil || e == nil || e.PrimaryKey == nil {
		r.log.Error("puppet key unavailable", zap.Error(err))
		return nil, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
	}
	return e, nil
}

func stanzaErr(typ stanza.ErrorType, cond stanza.Condition) error {
	return stanza.Error{Type: typ, Condition: cond}
}
