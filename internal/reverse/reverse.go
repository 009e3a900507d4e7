package reverse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"

	"passerelle/bridge/keys"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/compose"
	"passerelle/gateway/queue"
	"passerelle/internal/addrhash"
	"passerelle/policy"
)

// Queue route names.
const (
	RouteSMTP   = "smtp"        // gateway/delivery
	RouteNotice = "xmpp-notice" // NoticeTarget: DSNs to local XMPP users
)

// Recipient parameters stored with each spooled reverse-path mail.
const (
	ParamSender     = "sender"      // the sender's full JID
	ParamSenderBare = "sender-bare" // the sender's bare JID
	ParamPuppet     = "puppet"      // the puppet JID written to
	ParamJID        = "jid"         // NoticeTarget: the local user's bare JID
	ParamDedup      = "dedup"       // the duplicate-suppression key (dedup.go)
)

// Sender sends one stanza and returns once the server acknowledged it
// (bridge/xmpp.Component). Write only writes it: for error replies, which
// need no acknowledgement, and which Handle may write from the link's
// Serve goroutine.
type Sender interface {
	Send(ctx context.Context, m xmpp.Message) error
	Write(ctx context.Context, m xmpp.Message) error
	Connected() bool
}

// KeyResolver finds a published key (bridge/keys.Resolver).
type KeyResolver interface {
	Resolve(ctx context.Context, addr string) (keys.Result, error)
}

// KeyStore holds the gateway's secret keys (bridge/keys.Store).
type KeyStore interface {
	PuppetKey(ctx context.Context, puppetJID string) (*openpgp.Entity, error)
	DomainKey() (*openpgp.Entity, error)
}

// Spooler stores a message durably (gateway/queue.Queue).
type Spooler interface {
	Put(ctx context.Context, env *queue.Envelope, bodies ...io.Reader) error
}

// DKIM signs outgoing mail (gateway/dkim.Signer).
type DKIM interface {
	Signs(domain string) bool
	// Header reads the whole message and returns the DKIM-Signature
	// fields to prepend to it, so the message is not copied to sign it.
	Header(domain string, r io.Reader) (string, error)
}

// ThreadLookup finds the forwarded mail a reply answers (*Threads).
type ThreadLookup interface {
	ByThread(thread string) (Entry, bool)
	Last(puppet, user string) (Entry, bool)
}

// Config configures a Reverse.
type Config struct {
	Policy *policy.Policy
	// SenderKeys finds the sender's published key (keyring, PEP, WKD).
	SenderKeys KeyResolver
	// RecipientKeys finds the mail recipient's key (keyring, WKD).
	RecipientKeys KeyResolver
	Keys          KeyStore
	Spool         Spooler
	XMPP          Sender
	DKIM          DKIM         // nil: no signing
	Threads       ThreadLookup // nil: no threading from the store
	// OMEMO, if set, opens OMEMO 0.3 messages to puppet devices.
	OMEMO OMEMO
	// Fetcher downloads mail sent as an HTTP upload (<external/>, only
	// inside OX); nil refuses such mail with feature-not-implemented.
	Fetcher Fetcher
	// ComponentDomain is where puppet JIDs live; Hostname is the right
	// side of generated Message-IDs.
	ComponentDomain string
	Hostname        string
	Limits          Limits
	Dedup           DedupConfig
	Workers         int // messages processed at once; default 4
	// Timeout bounds the processing of one message, not counting the
	// download of a mail sent as an upload; default 2 minutes.
	Timeout time.Duration
	// DownloadTimeout bounds that download; default 10 minutes. The
	// processing after it gets a fresh Timeout.
	DownloadTimeout time.Duration
	Compose         compose.Limits
	Log             *zap.Logger
	HashAddr        func(string) string
	Now             func() time.Time
	Metrics         Metrics // refusals and plaintext mail; nil: none
}

// Metrics receives the reverse path's counts. reason is the XMPP error
// condition sent back (RFC 6120 §8.3.3, a bounded set). Defined here, by
// its consumer; cmd/passerelle implements it with Prometheus.
type Metrics interface {
	Refusal(reason string)
	// Plaintext counts a mail spooled without PGP/MIME encryption
	// (policy allowed it); path is "reverse".
	Plaintext(path string)
}

type nopMetrics struct{}

func (nopMetrics) Refusal(string)   {}
func (nopMetrics) Plaintext(string) {}

// Reverse turns XMPP messages to puppet JIDs into spooled mail.
type Reverse struct {
	cfg     Config
	log     *zap.Logger
	limiter *limiter
	dedup   *dedup
	jobs    chan *inbound // accepted stanzas, for the workers
	// Refused stanzas, for the error repliers: local senders' and
	// foreign senders' refusals never share capacity.
	refuseLocal   chan *inbound
	refuseForeign chan *inbound
	foreign       foreignRefusals
}

// New checks cfg and returns a Reverse. Nothing is processed until Run.
func New(cfg Config) (*Reverse, error) {
	var errs []error
	if cfg.Policy == nil || cfg.SenderKeys == nil || cfg.RecipientKeys == nil || cfg.Keys == nil ||
		cfg.Spool == nil || cfg.XMPP == nil {
		errs = append(errs, errors.New("reverse: Policy, SenderKeys, RecipientKeys, Keys, Spool and XMPP are required"))
	}
	if cfg.ComponentDomain == "" || cfg.Hostname == "" {
		errs = append(errs, errors.New("reverse: ComponentDomain and Hostname are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	log := cfg.Log.Named("reverse")
	dd, err := openDedup(cfg.Dedup, cfg.Now, log)
	if err != nil {
		return nil, err
	}
	return &Reverse{cfg: cfg, log: log, limiter: newLimiter(cfg.Limits, cfg.Now), dedup: dd,
		jobs: make(chan *inbound, 256), refuseLocal: make(chan *inbound, 256),
		refuseForeign: make(chan *inbound, 64), foreign: newForeignRefusals(cfg.Now)}, nil
}

func (c *Config) setDefaults() {
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	if c.HashAddr == nil {
		c.HashAddr = addrhash.Random()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.DownloadTimeout <= 0 {
		c.DownloadTimeout = DefaultDownloadTimeout
	}
	c.Limits = c.Limits.withDefaults()
}

// Run processes messages until ctx is done, then lets the messages in
// progress finish (each is bounded by Config.Timeout), closes the dedup
// file and returns nil.
func (rv *Reverse) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range rv.cfg.Workers {
		wg.Go(func() { rv.loop(ctx, rv.jobs, rv.process) })
	}
	wg.Go(func() { rv.loop(ctx, rv.refuseLocal, rv.replyRefusal) })
	wg.Go(func() { rv.loop(ctx, rv.refuseForeign, rv.replyRefusal) })
	wg.Go(func() { rv.reportDrops(ctx) })
	wg.Wait()
	if err := rv.dedup.close(); err != nil {
		rv.log.Warn("dedup file close", zap.Error(err))
	}
	return nil
}

func (rv *Reverse) loop(ctx context.Context, ch <-chan *inbound, fn func(context.Context, *inbound)) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-ch:
			rv.safely(ctx, in, fn)
		}
	}
}

// shutdownGrace is how long a message in progress may still take once
// Run's context is done.
const shutdownGrace = 10 * time.Second

// DefaultDownloadTimeout is Config.DownloadTimeout's default.
const DefaultDownloadTimeout = 10 * time.Minute

// errShutdown and errTimeout are the causes of a message's cancellation.
var (
	errShutdown = errors.New("reverse: shutting down")
	errTimeout  = fmt.Errorf("reverse: message processing: %w", context.DeadlineExceeded)
)

// budgetKey carries a message's processing timer in its context, so that
// the download of an upload can extend it (extendBudget).
type budgetKey struct{}

// safely runs fn on one message under the timeout, recovering a panic. A
// message in progress at shutdown gets shutdownGrace to reach the spool.
func (rv *Reverse) safely(parent context.Context, in *inbound, fn func(context.Context, *inbound)) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	defer cancel(nil)
	budget := time.AfterFunc(rv.cfg.Timeout, func() { cancel(errTimeout) })
	defer budget.Stop()
	ctx = context.WithValue(ctx, budgetKey{}, budget)
	stop := context.AfterFunc(parent, func() { time.AfterFunc(shutdownGrace, func() { cancel(errShutdown) }) })
	defer stop()
	defer func() {
		if p := recover(); p != nil {
			rv.log.Error("panic processing a message", zap.String("id", in.ID),
				zap.String("panic", fmt.Sprint(p)), zap.ByteString("stack", debug.Stack()))
		}
	}()
	fn(ctx, in)
}

// extendBudget lets the message of ctx run for d from now (a download,
// then a fresh Timeout for what follows it), whatever was left.
func extendBudget(ctx context.Context, d time.Duration) {
	if t, ok := ctx.Value(budgetKey{}).(*time.Timer); ok {
		t.Reset(d)
	}
}

func (rv *Reverse) hash(field, addr string) zap.Field {
	return zap.String(field, rv.cfg.HashAddr(addr))
}
