package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/bridge/omemo"
	"passerelle/bridge/pep"
	"passerelle/bridge/upload"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
	"passerelle/internal/forward"
	"passerelle/internal/peer"
	"passerelle/internal/reverse"
	"passerelle/policy"
)

// shutdownGrace is how long messages in flight get to finish after
// SIGTERM before connections are cut.
const shutdownGrace = 30 * time.Second

// gateway is everything serve runs, wired together.
type gateway struct {
	cfg       *Config
	log       *zap.Logger
	hash      func(string) string
	secret    *keys.InstallSecret // keys.dir/install.secret: keys every hash
	policy    *policy.Policy
	keys      *keys.Store
	resolver  *keys.Resolver
	omemo     *omemo.Store // puppet OMEMO devices, keys.dir/omemo
	pepSource *pep.Source  // users' PEP nodes, through the component
	store     spoolStore
	queue     *queue.Queue
	component *xmpp.Component
	mux       *xmpp.Mux
	certs     *certHolder // nil without TLS
	servers   []*listener
	reverse   *reverse.Reverse // reverse.go
	threads   *reverse.Threads
	autocrypt *keys.AutocryptStore // reverse.go: learned by forward, read by reverse
	upload    *upload.Uploader     // upload.go: shared by both paths; nil when not configured
	wkd       *http.Client         // wkdClient: shared by both paths' WKD sources
	peer      *peerParts           // peer.go: nil without [peers]
	relay     *relayParts          // relay.go: nil without [relay] mode
	metrics   *metrics             // metrics.go: always counted
	health    *healthServer        // metrics.go: nil without metrics.listen
	control   *controlServer       // control.go: spool.dir/control.sock
	path      string               // the configuration file, read again on SIGHUP (reload.go)
	level     zap.AtomicLevel      // log.level, reloadable
	auth      *liveAuth            // submission users, reloadable; nil without submission
	dkim      *liveDKIM            // [[dkim]] keys, reloadable
}

// wkdClient is the HTTP client of the WKD sources, made once: it dials
// through the egress filter ([egress]).
func (g *gateway) wkdClient() *http.Client {
	if g.wkd == nil {
		g.wkd = keys.NewWKDClient(g.cfg.Egress.guard())
	}
	return g.wkd
}

type listener struct {
	name string
	addr string
	srv  *smtpd.Server
	ln   net.Listener
}

func serve(ctx context.Context, path string, stderr io.Writer) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	log, level, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	stopProfile, err := startCPUProfile(os.Getenv("PASSERELLE_CPUPROFILE"))
	if err != nil {
		return err
	}
	defer stopProfile()
	stopMemProfile, err := startMemProfile(os.Getenv("PASSERELLE_MEMPROFILE"))
	if err != nil {
		return err
	}
	defer stopMemProfile()
	g, err := build(ctx, cfg, log)
	if err != nil {
		log.Error("start-up failed", zap.Error(err))
		return err
	}
	g.path, g.level = path, level
	for _, w := range cfg.warnings() {
		log.Warn("configuration: " + w)
	}
	defer g.store.Close()
	defer g.threads.Close()
	return g.run(ctx)
}

// build opens the stores and constructs every part; it binds the listeners
// last, so a gateway that cannot start never accepts mail.
func build(ctx context.Context, cfg *Config, log *zap.Logger) (*gateway, error) {
	secret, err := keys.LoadInstallSecret(cfg.Keys.Dir)
	if err != nil {
		return nil, fmt.Errorf("keys.dir: %w", err)
	}
	g := &gateway{cfg: cfg, log: log, secret: secret, hash: addressHasher(cfg.Log, secret), metrics: newMetrics()}
	if g.policy, err = cfg.policy(); err != nil {
		return nil, err
	}
	if err := g.buildComponent(); err != nil {
		return nil, err
	}
	if err := g.openKeys(); err != nil {
		return nil, err
	}
	if err := g.buildPeer(); err != nil {
		return nil, err
	}
	if err := g.buildRelay(); err != nil {
		return nil, err
	}
	np := cfg.Keys.NewPuppets
	rcfg := pep.ResponderConfig{Domain: cfg.XMPP.ComponentDomain, Keys: g.keys, OMEMO: g.omemo, Log: log,
		IsLocal: g.isLocalJID,
		NewPuppets: pep.NewPuppetLimits{PerUser: np.PerUser, PerUserDomain: np.PerUserDomain,
			PerMailDomain: np.PerMailDomain, Total: np.Total}}
	if g.peer != nil {
		rcfg.Features, rcfg.Forms = []string{peer.Feature}, [][]xml.Token{g.peer.publisher.Form()}
	}
	responder, err := pep.NewResponder(rcfg)
	if err != nil {
		return nil, err
	}
	if !cfg.relayClient() { // a relay client's account answers no disco or key queries
		responder.Register(g.mux)
	}
	store, damaged, err := openSpool(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	g.store = store
	if err := g.buildQueue(); err != nil {
		store.Close()
		return nil, err
	}
	g.queue.NotifyDamaged(ctx, damaged) // M5: each logged, senders told where possible
	if err := g.buildReverse(); err != nil {
		store.Close()
		return nil, err
	}
	g.metrics.watch(g.queue, g.component.Connected, time.Now)
	if err := g.buildSMTP(); err != nil {
		store.Close()
		return nil, err
	}
	if err := g.listenMetrics(); err != nil {
		g.closeListeners()
		store.Close()
		return nil, err
	}
	if err := g.listenControl(); err != nil {
		g.closeListeners()
		store.Close()
		return nil, err
	}
	return g, nil
}

func (g *gateway) openKeys() error {
	ks, err := keys.OpenStore(g.cfg.Keys.Dir, g.log)
	if err != nil {
		return err
	}
	if _, err := ks.DomainKey(); err != nil {
		return fmt.Errorf("keys.dir %s has no domain key (run `passerelle keys init -c FILE` once): %w", g.cfg.Keys.Dir, err)
	}
	ring, err := keys.OpenKeyring(filepath.Join(g.cfg.Keys.Dir, "keyring"), g.log)
	if err != nil {
		return err
	}
	sources := []keys.Source{ring}
	if g.component != nil { // XEP-0373 PEP, asked through the component
		g.pepSource = pep.NewSource(pep.SourceConfig{Client: g.component,
			Timeout: g.cfg.Keys.LookupTimeout.Duration, Log: g.log, HashAddr: g.hash,
			JIDOf: func(addr string) (jid.JID, error) { return jid.Parse(g.policy.JID(addr)) }})
		sources = append(sources, g.pepSource)
	}
	if g.omemo, err = omemo.NewStore(omemo.StoreConfig{Dir: filepath.Join(g.cfg.Keys.Dir, "omemo"), Log: g.log}); err != nil {
		return err
	}
	quietLibsignal(g.log)
	// No WKD here: this resolver serves local users only (forward-path
	// recipients, reverse-path senders), whose keys come from the keyring
	// and PEP; a WKD fetch per RCPT would be work any MX client triggers.
	g.keys = ks
	g.resolver = keys.NewResolver(keys.ResolverConfig{Sources: sources, TTL: g.cfg.Keys.CacheTTL.Duration,
		NegativeTTL: g.cfg.Keys.NegativeTTL.Duration, LookupTimeout: g.cfg.Keys.LookupTimeout.Duration, Log: g.log,
		HashAddr: g.hash, Metrics: g.metrics})
	return nil
}

func (g *gateway) buildComponent() error {
	if g.cfg.relayClient() {
		return g.buildRelayLink()
	}
	secret, err := g.cfg.XMPP.ComponentSecret.Resolve()
	if err != nil {
		return fmt.Errorf("xmpp.component_secret: %w", err)
	}
	g.mux = xmpp.NewMux()
	g.component = xmpp.New(xmpp.Config{Addr: g.cfg.XMPP.ComponentAddr, Domain: g.cfg.XMPP.ComponentDomain,
		Secret: secret, Log: g.log, AckTimeout: g.cfg.XMPP.AckTimeout.Duration, Mux: g.mux, Metrics: g.metrics})
	return nil
}

func (g *gateway) buildQueue() error {
	ft := &forward.Target{Sender: g.component, Log: g.log,
		MaxStanza: g.cfg.XMPP.MaxStanzaBytes, Plaintext: func() { g.metrics.Plaintext("forward") }, Known: g.knownUser}
	if g.cfg.Spool.Backend == spoolJetStream {
		ft.Domain = g.cfg.XMPP.ComponentDomain // each node its own component domain (README, "More than one node")
		ft.LinkRetry = 5 * time.Second         // without its link a node hands XMPP mail back to the others soon
	}
	targets := map[string]queue.Target{forward.RouteXMPP: ft}
	if err := g.reverseTargets(targets); err != nil { // "smtp" and "xmpp-notice"
		return err
	}
	g.peerTargets(targets)
	if err := g.relayTargets(targets); err != nil {
		return err
	}
	sc := g.cfg.Spool
	var err error
	g.queue, err = queue.New(queue.Config{
		Store:   g.store,
		Targets: targets,
		Workers: sc.Workers, RetryInitial: sc.RetryInitial.Duration, RetryMax: sc.RetryMax.Duration,
		Lifetime: sc.Lifetime.Duration, DelayWarning: sc.DelayWarning.Duration, Log: g.log, HashAddr: g.hash,
		DSN:         queue.DSNConfig{ReportingMTA: g.cfg.Hostname, Postmaster: sc.Postmaster},
		BounceRoute: g.bounceRoute, Metrics: g.metrics,
	})
	return err
}

// bounceRoute sends DSNs for remote senders out over SMTP, and DSNs for
// local users (reverse-path senders) to their XMPP client as a notice from
// the failed recipient's puppet; the directory maps the address to the
// bare JID (by default the same string).
// A sender at a peer site gets its DSN over the peer route.
func (g *gateway) bounceRoute(addr string) (string, map[string]string, bool) {
	if route, params, ok, relayed := g.relayBounce(addr); relayed {
		return route, params, ok
	}
	if g.policy.IsLocal(addr) {
		return reverse.RouteNotice, map[string]string{reverse.ParamJID: g.policy.JID(addr)}, true
	}
	if route, params, ok := g.peerBounce(addr); ok {
		return route, params, true
	}
	return reverse.RouteSMTP, nil, true
}

func (g *gateway) buildSMTP() error {
	uploader, err := g.uploader()
	if err != nil {
		return err
	}
	verifier, err := g.verifier()
	if err != nil {
		return err
	}
	kc := g.cfg.Keys
	fwd, err := forward.New(forward.Config{Policy: g.policy, Keys: g.resolver,
		Lookups: forward.LookupLimits{PerMinute: kc.RcptLookupsPerMinute, Burst: kc.RcptLookupBurst,
			PerTransaction: kc.RcptLookupsPerTransaction}, Puppets: g.keys, Spool: g.queue,
		ComponentDomain: g.cfg.XMPP.ComponentDomain, Hostname: g.cfg.Hostname, Log: g.log, HashAddr: g.hash,
		Threads: g.forwardThreads(), Autocrypt: g.forwardAutocrypt(), MaxStanzaBytes: g.cfg.XMPP.MaxStanzaBytes, Uploader: uploader,
		Verifier: verifier, RejectDMARC: g.cfg.Inbound.Unauthenticated == "reject",
		Peer: g.forwardPeer(), LocalMTARoute: g.localMTARoute(), OMEMO: g.forwardOMEMO()})
	if err != nil {
		return err
	}
	prc, err := g.buildPeerReceiver(fwd)
	if err != nil {
		return err
	}
	if relayed, err := g.relayReceivers(fwd, prc); err != nil {
		return err
	} else if !relayed && prc != nil {
		prc.Register(g.mux)
	}
	tlsConf, certs, err := loadTLS(g.cfg.TLS)
	if err != nil {
		return err
	}
	g.certs = certs
	s := g.cfg.SMTP
	base := smtpd.Config{Hostname: g.cfg.Hostname, TLS: tlsConf, Router: fwd, Sink: fwd,
		MaxLineLength: s.MaxLineLength, MaxDataLineLength: s.MaxDataLineLength, MaxRecipients: s.MaxRecipients, MaxMessageBytes: s.MaxMessageBytes,
		ReadTimeout: s.ReadTimeout.Duration, WriteTimeout: s.WriteTimeout.Duration, MaxConns: s.MaxConns,
		MaxConnsPerIP: s.MaxConnsPerIP, MaxBadCommands: s.MaxBadCommands, GreetDelay: s.GreetDelay.Duration,
		DataBudget: smtpd.NewBudget(s.DataMemoryBudget), // one for both listeners
		EnableDSN:  true,                                // RFC 3461: the queue honours NOTIFY, ENVID, ORCPT
		Logger:     g.log, AddressHasher: g.hash, Metrics: g.metrics}
	if s.MX.Listen != "" {
		if err := g.addListener("mx", s.MX.Listen, base); err != nil {
			return err
		}
	}
	if s.Submission.Listen != "" {
		sub := base
		sub.Mode = smtpd.ModeSubmission
		auth, err := newAuthenticator(s.Submission.Users)
		if err != nil {
			return err
		}
		g.auth = &liveAuth{}
		g.auth.cur.Store(auth)
		sub.Authenticator = g.auth
		if err := g.addListener("submission", s.Submission.Listen, sub); err != nil {
			return err
		}
	}
	return nil
}

func (g *gateway) addListener(name, addr string, c smtpd.Config) error {
	srv, err := smtpd.New(c)
	if err != nil {
		return fmt.Errorf("smtp.%s: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp.%s.listen: %w", name, err)
	}
	g.servers = append(g.servers, &listener{name: name, addr: addr, srv: srv, ln: ln})
	return nil
}

// run serves until ctx is done, then shuts down in two phases: stop
// accepting and let SMTP transactions in flight finish, then stop the queue
// and the XMPP link. Nothing is lost either way: accepted mail is on disk.
func (g *gateway) run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	eg, egCtx := errgroup.WithContext(runCtx)
	eg.Go(func() error { return ignoreCanceled(g.component.Run(egCtx)) })
	eg.Go(func() error { return ignoreCanceled(g.queue.Run(egCtx)) })
	eg.Go(func() error { g.reloadOnHUP(egCtx); return nil })
	eg.Go(func() error { return g.reverse.Run(egCtx) })
	if g.health != nil {
		eg.Go(func() error { return g.health.serve(egCtx, g.log) })
	}
	eg.Go(func() error { return g.control.serve(egCtx) })
	for _, l := range g.servers {
		eg.Go(func() error { return ignoreCanceled(l.srv.Serve(egCtx, l.ln)) })
		g.log.Info("listening", zap.String("listener", l.name), zap.String("addr", l.ln.Addr().String()))
	}
	g.log.Info("passerelle started", zap.String("version", version), zap.String("hostname", g.cfg.Hostname))
	select {
	case <-ctx.Done():
		g.log.Info("shutting down: no new connections; transactions in flight get a grace period",
			zap.Duration("grace", shutdownGrace))
	case <-egCtx.Done():
	}
	graceCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, l := range g.servers {
		if err := l.srv.Shutdown(graceCtx); err != nil {
			g.log.Warn("smtp shutdown", zap.String("listener", l.name), zap.Error(err))
		}
	}
	stop()
	err := eg.Wait()
	g.log.Info("passerelle stopped", zap.Error(err))
	return err
}

func (g *gateway) closeListeners() {
	for _, l := range g.servers {
		_ = l.ln.Close()
	}
	if g.health != nil {
		_ = g.health.ln.Close()
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// isLocalJID reports whether bare is a user of this provider: the
// directory maps it to a local address (the reverse path's sender rule).
func (g *gateway) isLocalJID(bare jid.JID) bool {
	_, ok := g.policy.Email(bare.String())
	return ok
}

// knownUser reports whether a local address is known to be a user: listed
// in the user list or the directory (policy.Exists, when the gateway has a
// list; without one it cannot know).
func (g *gateway) knownUser(addr string) bool {
	return g.policy.UsersKnown() && g.policy.Exists(addr)
}
