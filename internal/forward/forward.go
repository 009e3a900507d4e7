package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/keys"
	"passerelle/gateway/mime"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/addrhash"
	"passerelle/internal/ratelimit"
	"passerelle/policy"
)

// RouteXMPP is the queue route name of the XMPP target.
const RouteXMPP = "xmpp"

// KeyResolver finds a recipient's published key; Cached reports whether
// Resolve would answer from its cache, asking no source.
type KeyResolver interface {
	Resolve(ctx context.Context, addr string) (keys.Result, error)
	Cached(addr string) bool
}

// PuppetKeys gives the signing key of a puppet JID, made on first use.
type PuppetKeys interface {
	PuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error)
}

// Spooler stores a message durably (queue.Queue).
type Spooler interface {
	Put(ctx context.Context, env *queue.Envelope, bodies ...io.Reader) error
}

// Threads records, for each forwarded mail, what a reply needs to thread:
// the reverse path (internal/reverse.Threads) reads it back when the user
// answers from puppet to user in thread. Errors only cost threading.
type Threads interface {
	Record(ctx context.Context, puppet, user, thread, messageID string, refs []string) error
}

// PeerRoute serves recipients outside the local domains that another
// Passerelle site receives (internal/peer.Route): it decides at RCPT, and
// seals their copy (one transfer per peer domain) before the spool. raw is
// the message with our trace fields; inner is the XEP-0373 payload built
// for it (subject, text, the mail), for recipients whose own key the peer
// route found. The returned recipients' Body indexes the returned bodies.
type PeerRoute interface {
	Rcpt(ctx context.Context, s *smtpd.Info, from, to string) (any, error)
	Seal(ctx context.Context, env *smtpd.Envelope, raw, inner []byte, rcpts []smtpd.Recipient) ([]queue.Recipient, [][]byte, error)
}

// Config configures a Forward.
type Config struct {
	Policy          *policy.Policy
	Keys            KeyResolver
	Puppets         PuppetKeys
	Spool           Spooler
	ComponentDomain string // puppet JIDs live here
	Hostname        string
	MIMELimits      mime.Limits
	// MaxStanzaBytes is the largest stanza the XMPP server accepts from the
	// component (Prosody: 512 KiB); bigger mail is refused at end of DATA
	// until HTTP upload is configured.
	MaxStanzaBytes int
	// Uploader carries mail too large for a stanza (XEP-0363); nil refuses
	// such mail with 552 5.3.4.
	Uploader Uploader
	// Threads, if set, records each forwarded mail's thread for replies.
	Threads Threads
	// Autocrypt, if set, learns remote senders' keys from the Autocrypt
	// headers of accepted mail.
	Autocrypt AutocryptLearner
	// Verifier, if set, authenticates the From domain of mail from MX
	// sessions; the result is prepended as Authentication-Results and mail
	// that does not pass is marked for the reader.
	Verifier Verifier
	// RejectDMARC refuses (550 5.7.1) mail whose From domain publishes
	// DMARC p=reject and that fails it; see authenticate.
	RejectDMARC bool
	// Peer, if set, takes recipients outside the local domains (the peer
	// route); without it they are refused (relaying denied).
	Peer PeerRoute
	// LocalMTARoute, if set, is the queue route (gateway/delivery, e.g.
	// "smtp" through the smarthost) for local addresses whose policy route
	// is "smtp": users still on email. Empty: such addresses are refused.
	LocalMTARoute string
	// OMEMO, if set, delivers over OMEMO 0.3 to recipients who publish
	// devices, as policy.xmpp_encryption says (OMEMOVia).
	OMEMO OMEMO
	// Lookups bound the uncached key lookups MX clients trigger at RCPT.
	Lookups  LookupLimits
	Log      *zap.Logger
	HashAddr func(string) string
	Now      func() time.Time
}

// Forward implements smtpd.Router and smtpd.Sink for the forward path.
type Forward struct {
	cfg          Config
	log          *zap.Logger
	lookupLimits LookupLimits
	lookups      *ratelimit.Keyed // per client network (clientNet)
}

// New returns a Forward.
func New(cfg Config) (*Forward, error) {
	var errs []error
	if cfg.Policy == nil || cfg.Keys == nil || cfg.Puppets == nil || cfg.Spool == nil {
		errs = append(errs, errors.New("forward: Policy, Keys, Puppets and Spool are required"))
	}
	if cfg.ComponentDomain == "" || cfg.Hostname == "" {
		errs = append(errs, errors.New("forward: ComponentDomain and Hostname are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.HashAddr == nil {
		cfg.HashAddr = addrhash.Random()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxStanzaBytes <= 0 {
		cfg.MaxStanzaBytes = 512 << 10
	}
	ll := cfg.Lookups.withDefaults()
	lookups := ratelimit.New(ratelimit.Config{Rate: ll.PerMinute / 60, Burst: ll.Burst, MaxKeys: ll.MaxClients, Now: cfg.Now})
	return &Forward{cfg: cfg, log: cfg.Log.Named("forward"), lookupLimits: ll, lookups: lookups}, nil
}

func (f *Forward) hash(a string) zap.Field { return zap.String("rcpt", f.cfg.HashAddr(a)) }

func wrap(op string, err error) error { return fmt.Errorf("forward: %s: %w", op, err) }
