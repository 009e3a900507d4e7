package main

import (
	"context"
	"fmt"
	"passerelle/gateway/dane"
	"path/filepath"
	"time"

	"passerelle/bridge/keys"
	"passerelle/gateway/delivery"
	"passerelle/gateway/dkim"
	"passerelle/gateway/mtasts"
	"passerelle/gateway/queue"
	"passerelle/internal/forward"
	"passerelle/internal/reverse"
	"passerelle/policy"

	"go.uber.org/zap"
)

// buildReverse wires the reverse path: the component's message handler,
// the thread store the forward path records into, DKIM and the recipient
// key resolver. It runs after buildQueue (it spools into g.queue) and
// before buildSMTP (the forward path records threads).
func (g *gateway) buildReverse() error {
	path := g.cfg.Reverse.ThreadsFile
	if path == "" {
		path = filepath.Join(g.cfg.Spool.Dir, "threads.log")
	}
	threads, err := reverse.OpenThreads(path, 0, g.secret.Key("threads"), g.log)
	if err != nil {
		return fmt.Errorf("reverse.threads_file: %w", err)
	}
	if _, err := g.liveDKIM(); err != nil {
		threads.Close()
		return err
	}
	rcptKeys, err := g.recipientResolver()
	if err != nil {
		threads.Close()
		return err
	}
	fetcher, err := g.fetcher()
	if err != nil {
		threads.Close()
		return err
	}
	rc := g.cfg.Reverse
	rv, err := reverse.New(reverse.Config{Policy: g.policy, SenderKeys: g.resolver, RecipientKeys: rcptKeys,
		Keys: g.keys, Spool: g.queue, XMPP: g.component, DKIM: g.dkim, Threads: threads, Fetcher: fetcher, OMEMO: g.reverseOMEMO(),
		ComponentDomain: g.cfg.XMPP.ComponentDomain, Hostname: g.cfg.Hostname, Workers: rc.Workers,
		DownloadTimeout: rc.DownloadTimeout.Duration,
		Limits: reverse.Limits{RatePerMinute: rc.RatePerMinute, Burst: rc.Burst,
			MaxRecipientsPerHour: rc.MaxRecipientsPerHour},
		Log: g.log, HashAddr: g.hash, Metrics: g.metrics, Dedup: reverse.DedupConfig{File: filepath.Join(g.cfg.Spool.Dir, "dedup.log"),
			Seed: g.spooledDedupKeys()}})
	if err != nil {
		threads.Close()
		return err
	}
	if !g.cfg.relayClient() { // messages to a relay client's account are no reverse-path mail
		g.mux.HandleMessage(rv.Handle)
	}
	g.reverse, g.threads = rv, threads
	return nil
}

// dkimSigner loads the [[dkim]] keys; nil when none is configured.
// liveDKIM returns the reloadable signer of the [[dkim]] keys, made on
// first use: the reverse path and the relay client share it, so SIGHUP
// swaps the keys of both.
func (g *gateway) liveDKIM() (*liveDKIM, error) {
	if g.dkim != nil {
		return g.dkim, nil
	}
	signer, err := dkimSignerFor(g.cfg, g.log)
	if err != nil {
		return nil, err
	}
	g.dkim = &liveDKIM{}
	g.dkim.set(signer)
	return g.dkim, nil
}

func dkimSignerFor(cfg *Config, log *zap.Logger) (reverse.DKIM, error) {
	if len(cfg.DKIM) == 0 {
		return nil, nil
	}
	var ds []dkim.DomainConfig
	for _, d := range cfg.DKIM {
		ds = append(ds, dkim.DomainConfig{Domain: d.Domain, Selector: d.Selector, KeyFile: d.KeyFile})
	}
	s, err := dkim.New(dkim.Config{Domains: ds, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return s, nil
}

// recipientResolver finds email recipients' keys: the pinned keyring, the
// keys learned from Autocrypt headers of mail received (the forward path
// feeds g.autocrypt), then WKD. PEP is left out: remote mail users have no
// XMPP account to ask.
func (g *gateway) recipientResolver() (*keys.Resolver, error) {
	ring, err := keys.OpenKeyring(filepath.Join(g.cfg.Keys.Dir, "keyring"), g.log)
	if err != nil {
		return nil, err
	}
	var r *keys.Resolver // set below, before any mail is accepted
	ac, err := keys.OpenAutocryptStore(keys.AutocryptConfig{Dir: filepath.Join(g.cfg.Keys.Dir, "autocrypt"),
		Log: g.log, HashAddr: g.hash, Changed: func(addr string) { r.Forget(addr) }})
	if err != nil {
		return nil, err
	}
	sources := []keys.Source{ring, ac}
	if g.cfg.Keys.WKD {
		sources = append(sources, keys.WKD{Client: g.wkdClient(),
			Timeout: g.cfg.Keys.LookupTimeout.Duration})
	}
	r = keys.NewResolver(keys.ResolverConfig{Sources: sources, TTL: g.cfg.Keys.CacheTTL.Duration,
		NegativeTTL: g.cfg.Keys.NegativeTTL.Duration, LookupTimeout: g.cfg.Keys.LookupTimeout.Duration,
		Log: g.log, HashAddr: g.hash, Metrics: g.metrics})
	g.autocrypt = ac
	return r, nil
}

// deliveryTarget is the outbound SMTP target from [delivery].
func (g *gateway) deliveryTarget() (*delivery.Target, error) {
	dc := g.cfg.Delivery
	c := delivery.Config{Hostname: g.cfg.Hostname, Port: dc.Port, AllowPrivateAddrs: dc.AllowPrivate,
		MaxPerDestination: dc.MaxPerDestination, Logger: g.log, HashAddress: g.hash, Metrics: g.metrics}
	c.Resolver = dnsResolver(dc.DNSServer)
	pols, _ := dc.tlsPolicies() // validated
	if dc.MTASTS && dc.Smarthost.Addr == "" {
		sts := mtasts.New(mtasts.Config{Resolver: dnsResolver(dc.DNSServer), Guard: g.cfg.Egress.guard(), Log: g.log})
		pols.Dynamic = sts.TLSPolicy
	}
	c.TLSPolicy = pols.Policy
	if dc.DANE && dc.Smarthost.Addr == "" {
		addr, err := resolverAddr(dc.DNSServer)
		if err != nil {
			return nil, fmt.Errorf("delivery.dane: %w", err)
		}
		c.DANE = &dane.Resolver{Server: addr}
	}
	if sh := dc.Smarthost; sh.Addr != "" {
		c.Smarthost = &delivery.Smarthost{Addr: sh.Addr, ImplicitTLS: sh.TLS == "implicit",
			Plaintext: sh.TLS == "none", Username: sh.Username}
		if sh.Username != "" {
			pw, err := sh.Password.Resolve()
			if err != nil {
				return nil, fmt.Errorf("delivery.smarthost.password: %w", err)
			}
			c.Smarthost.Password = pw
		}
	}
	return delivery.New(c)
}

// reverseTargets are the queue targets the reverse path adds.
func (g *gateway) reverseTargets(targets map[string]queue.Target) error {
	smtpOut, err := g.deliveryTarget()
	if err != nil {
		return err
	}
	targets[reverse.RouteSMTP] = smtpOut
	targets[reverse.RouteNotice] = &reverse.NoticeTarget{Sender: g.component,
		ComponentDomain: g.cfg.XMPP.ComponentDomain, Log: g.log,
		Keys: g.resolver, Signer: g.keys, Plaintext: g.plaintextAllowed}
	return nil
}

// forwardThreads is the forward path's thread hook (nil-safe).
func (g *gateway) forwardThreads() forward.Threads {
	if g.threads == nil {
		return nil
	}
	return g.threads
}

// forwardAutocrypt is the forward path's Autocrypt learner (nil-safe).
func (g *gateway) forwardAutocrypt() forward.AutocryptLearner {
	if g.autocrypt == nil {
		return nil
	}
	return g.autocrypt
}

// spooledDedupKeys returns the duplicate-suppression keys of the reverse
// path's messages still in the spool, so that a crash between the spool's
// fsync and the dedup file's cannot let a resent stanza through.
func (g *gateway) spooledDedupKeys() map[string]time.Time {
	envs, err := g.store.Load(context.Background())
	if err != nil {
		g.log.Warn("reading the spool for duplicate suppression", zap.Error(err))
		return nil
	}
	keys := map[string]time.Time{}
	for _, e := range envs {
		for _, r := range e.Recipients {
			if k := r.Params[reverse.ParamDedup]; k != "" {
				keys[k] = e.Received
			}
		}
	}
	return keys
}

// plaintextAllowed reports whether policy lets mail to the local address
// travel in clear (the forward path's rule): a delivery notice to a user
// without a key then shows its details in clear too.
func (g *gateway) plaintextAllowed(addr string) bool {
	d := g.policy.Decide(addr)
	return d.Encryption != policy.EncryptRequired || d.NoKey == policy.NoKeyNotice
}
