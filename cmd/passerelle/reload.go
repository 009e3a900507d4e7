package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"os/signal"
	"reflect"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"passerelle/bridge/peertrust"
	"passerelle/internal/reverse"
	"passerelle/policy"
)

// Live reload (SIGHUP). The configuration file is read and validated
// again in full; every part that can change without a restart is built
// from it first, and only when all of them built is each swapped in, at
// once: the policy (rules, directory, users_file, submission senders),
// the submission users' passwords, the DKIM keys, the peers' trust
// settings, the log level and the TLS certificate. A file with any
// problem is refused whole, each problem logged, and the running
// configuration stays. Keys that need a restart (listeners, spool, XMPP
// link, keys.dir, ...) are named in a warning when they changed.

// reloadOnHUP reloads on each SIGHUP until ctx is done.
func (g *gateway) reloadOnHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			g.reload()
		}
	}
}

// reload applies the configuration file again, or keeps the running one.
func (g *gateway) reload() {
	cfg, next, err := g.prepareReload()
	if err != nil {
		for _, e := range unjoin(unwrapConfigError(err)) {
			g.log.Error("reload refused; keeping the running configuration", zap.String("file", g.path), zap.Error(e))
		}
		return
	}
	next.apply(g)
	for _, k := range restartKeys(g.cfg, cfg) {
		g.log.Warn("reload: this change needs a restart; the running value stays", zap.String("key", k))
	}
	g.log.Info("configuration reloaded", zap.String("file", g.path))
}

func unwrapConfigError(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return errors.Join(ce.Errs...)
	}
	return err
}

// reloaded is everything a reload swaps in, built before any is.
type reloaded struct {
	cfg   *Config
	pol   *policy.Policy
	level zapcore.Level
	auth  *authenticator // nil: no submission listener
	dkim  reverse.DKIM
	trust *peertrust.Checker // nil: no peer route
	cert  *tls.Certificate   // nil: no TLS
}

func (g *gateway) prepareReload() (*Config, *reloaded, error) {
	cfg, err := LoadConfig(g.path)
	if err != nil {
		return nil, nil, err
	}
	r := &reloaded{cfg: cfg}
	var errs []error
	if r.pol, err = cfg.policy(); err != nil {
		errs = append(errs, err)
	}
	if r.level, err = zapcore.ParseLevel(cfg.Log.Level); err != nil {
		errs = append(errs, err)
	}
	if g.auth != nil {
		if r.auth, err = newAuthenticator(cfg.SMTP.Submission.Users); err != nil {
			errs = append(errs, err)
		}
	}
	if r.dkim, err = dkimSignerFor(cfg, g.log); err != nil {
		errs = append(errs, err)
	}
	if g.peer != nil {
		if r.trust, _, err = cfg.peerTrust(g.log); err != nil {
			errs = append(errs, err)
		}
	}
	if g.certs != nil {
		if r.cert, err = g.certs.load(); err != nil {
			errs = append(errs, err)
		}
	}
	return cfg, r, errors.Join(errs...)
}

func (r *reloaded) apply(g *gateway) {
	g.policy.Replace(r.pol)
	g.level.SetLevel(r.level)
	if r.auth != nil {
		g.auth.cur.Store(r.auth)
	}
	g.dkim.set(r.dkim)
	if r.trust != nil {
		g.peer.checker.Store(r.trust)
	}
	if r.cert != nil {
		g.certs.set(r.cert)
		g.log.Info("certificate reloaded", zap.String("file", g.certs.certFile))
	}
}

// restartKeys names the sections that changed but are only read at start.
func restartKeys(old, cur *Config) []string {
	var keys []string
	for _, c := range []struct {
		key      string
		old, cur any
	}{
		{"hostname", old.Hostname, cur.Hostname},
		{"smtp (listeners and limits)", stripUsers(old.SMTP), stripUsers(cur.SMTP)},
		{"spool", old.Spool, cur.Spool},
		{"xmpp", old.XMPP, cur.XMPP},
		{"keys", old.Keys, cur.Keys},
		{"reverse", old.Reverse, cur.Reverse},
		{"delivery", old.Delivery, cur.Delivery},
		{"egress", old.Egress, cur.Egress},
		{"inbound", old.Inbound, cur.Inbound},
		{"relay", old.Relay, cur.Relay},
		{"metrics", old.Metrics, cur.Metrics},
		{"peers.smtp_fallback", old.Peers.SMTPFallback, cur.Peers.SMTPFallback},
		{"log.format, log.clear_addresses", [2]any{old.Log.Format, old.Log.ClearAddresses}, [2]any{cur.Log.Format, cur.Log.ClearAddresses}},
		{"tls file names", old.TLS, cur.TLS},
	} {
		if !reflect.DeepEqual(c.old, c.cur) {
			keys = append(keys, c.key)
		}
	}
	return keys
}

func stripUsers(s SMTPConfig) SMTPConfig {
	s.Submission.Users = nil
	return s
}

// liveAuth is the submission listener's Authenticator; a reload swaps
// the users in.
type liveAuth struct{ cur atomic.Pointer[authenticator] }

func (a *liveAuth) Authenticate(ctx context.Context, user, password string) error {
	return a.cur.Load().Authenticate(ctx, user, password)
}

// liveDKIM is the reverse path's signer; a reload swaps the keys in. No
// keys: nothing is signed.
type liveDKIM struct{ cur atomic.Pointer[dkimBox] }

type dkimBox struct{ s reverse.DKIM }

func (d *liveDKIM) set(s reverse.DKIM) { d.cur.Store(&dkimBox{s}) }

func (d *liveDKIM) Signs(domain string) bool {
	b := d.cur.Load()
	return b != nil && b.s != nil && b.s.Signs(domain)
}

// Header returns the DKIM-Signature fields for the message read from r
// (reverse.DKIM, relay.DKIM).
func (d *liveDKIM) Header(domain string, r io.Reader) (string, error) {
	b := d.cur.Load()
	if b == nil || b.s == nil {
		return "", errors.New("dkim: no key for " + domain)
	}
	return b.s.Header(domain, r)
}
