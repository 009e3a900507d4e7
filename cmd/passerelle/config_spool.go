package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"passerelle/gateway/queue"
	"passerelle/gateway/queue/natsstore"
)

// Spool backends.
const (
	spoolFile      = "file"
	spoolJetStream = "jetstream"
)

// JetStreamConfig is [spool.jetstream]: the queue shared by several nodes
// on a NATS JetStream cluster (README, "More than one node").
type JetStreamConfig struct {
	URLs            []string `toml:"urls"`             // nats://host:4222 of the cluster's servers
	CredentialsFile string   `toml:"credentials_file"` // NATS .creds (JWT + NKey seed)
	TLSCAFile       string   `toml:"tls_ca_file"`      // CA bundle for tls:// servers; default the system roots
	User            string   `toml:"user"`
	Password        Secret   `toml:"password"` // with user; value, env or file
	Token           Secret   `toml:"token"`
	Node            string   `toml:"node"`        // this node's name; default the host name
	Stream          string   `toml:"stream"`      // default PASSERELLE_SPOOL
	Replicas        int      `toml:"replicas"`    // 1, 3 or 5; default 1
	AckWait         Duration `toml:"ack_wait"`    // a dead node's messages wait this long; default 2m
	MaxDefer        Duration `toml:"max_defer"`   // longest single deferral; default 15m
	MaxDeliver      int      `toml:"max_deliver"` // JetStream's per-message delivery limit; default 100000
}

func (j JetStreamConfig) validate(lifetime time.Duration) []error {
	var errs []error
	if len(j.URLs) == 0 {
		errs = append(errs, errors.New("spool.jetstream.urls: required with spool.backend = \"jetstream\""))
	}
	for _, u := range j.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
			errs = append(errs, fmt.Errorf("spool.jetstream.urls: %q: want nats://host:port or tls://host:port", u))
		} else if p.User != nil {
			errs = append(errs, fmt.Errorf("spool.jetstream.urls: %q: no credentials in URLs (they end up in logs); use user/password, token or credentials_file", p.Redacted()))
		}
	}
	if j.Replicas != 0 && j.Replicas != 1 && j.Replicas != 3 && j.Replicas != 5 {
		errs = append(errs, fmt.Errorf("spool.jetstream.replicas: %d: want 1, 3 or 5", j.Replicas))
	}
	if j.AckWait.Duration != 0 && j.AckWait.Duration < 5*time.Second {
		errs = append(errs, fmt.Errorf("spool.jetstream.ack_wait: %v is too short (at least 5s; it is renewed every quarter)", j.AckWait.Duration))
	}
	if j.MaxDeliver < 0 || j.MaxDefer.Duration < 0 {
		errs = append(errs, errors.New("spool.jetstream.max_deliver, max_defer: must not be negative"))
	}
	if md, n := j.maxDefer(), j.maxDeliver(); lifetime > 0 && int64(n) < 4*int64(lifetime/md) {
		errs = append(errs, fmt.Errorf("spool.jetstream.max_deliver: %d is too few for spool.lifetime %v at max_defer %v (want at least %d): JetStream would stop handing out a long-retried message",
			n, lifetime, md, 4*int64(lifetime/md)))
	}
	if j.CredentialsFile != "" {
		if _, err := os.Stat(j.CredentialsFile); err != nil {
			errs = append(errs, fmt.Errorf("spool.jetstream.credentials_file: %w", err))
		}
	}
	if j.TLSCAFile != "" {
		if _, err := os.Stat(j.TLSCAFile); err != nil {
			errs = append(errs, fmt.Errorf("spool.jetstream.tls_ca_file: %w", err))
		}
	}
	if (j.User == "") != (j.Password == Secret{}) {
		errs = append(errs, errors.New("spool.jetstream.user and password: set both or neither"))
	}
	for key, s := range map[string]Secret{"password": j.Password, "token": j.Token} {
		if s != (Secret{}) {
			if _, err := s.Resolve(); err != nil {
				errs = append(errs, fmt.Errorf("spool.jetstream.%s: %w", key, err))
			}
		}
	}
	return errs
}

func (j JetStreamConfig) maxDefer() time.Duration {
	if j.MaxDefer.Duration > 0 {
		return j.MaxDefer.Duration
	}
	return natsstore.DefaultMaxDefer
}

func (j JetStreamConfig) maxDeliver() int {
	if j.MaxDeliver > 0 {
		return j.MaxDeliver
	}
	return natsstore.DefaultMaxDeliver
}

func (j JetStreamConfig) node() string {
	if j.Node != "" {
		return j.Node
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "passerelle"
	}
	return h
}

// storeConfig is the natsstore configuration, secrets resolved.
func (j JetStreamConfig) storeConfig(log *zap.Logger) (natsstore.Config, error) {
	c := natsstore.Config{URLs: j.URLs, CredentialsFile: j.CredentialsFile, TLSCAFile: j.TLSCAFile, User: j.User, Name: j.node(),
		Stream: j.Stream, Replicas: j.Replicas, AckWait: j.AckWait.Duration, MaxDefer: j.maxDefer(),
		MaxDeliver: j.maxDeliver(), Log: log}
	var err error
	if j.Password != (Secret{}) {
		if c.Password, err = j.Password.Resolve(); err != nil {
			return c, fmt.Errorf("spool.jetstream.password: %w", err)
		}
	}
	if j.Token != (Secret{}) {
		if c.Token, err = j.Token.Resolve(); err != nil {
			return c, fmt.Errorf("spool.jetstream.token: %w", err)
		}
	}
	return c, nil
}

// spoolStore is what the gateway keeps of its store: a queue.Store it
// closes at the end.
type spoolStore interface {
	queue.Store
	Close() error
}

// openSpool opens the configured backend. Entries quarantined at start-up
// (file spool only; the shared spool quarantines at claim) are returned for
// Queue.NotifyDamaged.
func openSpool(ctx context.Context, cfg *Config, log *zap.Logger) (spoolStore, []queue.Damaged, error) {
	if cfg.Spool.Backend != spoolJetStream {
		s, damaged, err := queue.Open(ctx, cfg.Spool.Dir, log)
		if err != nil {
			return nil, nil, fmt.Errorf("open spool: %w", err)
		}
		return s, damaged, nil
	}
	sc, err := cfg.Spool.JetStream.storeConfig(log)
	if err != nil {
		return nil, nil, err
	}
	// Spool.Dir still holds this node's own state (dedup logs, threads,
	// the control socket): make sure it exists.
	if err := os.MkdirAll(cfg.Spool.Dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("spool.dir: %w", err)
	}
	lock, err := lockSpoolDir(cfg.Spool.Dir)
	if err != nil {
		return nil, nil, err
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := natsstore.Open(octx, sc)
	if err != nil {
		_ = lock.Close()
		return nil, nil, fmt.Errorf("open shared spool: %w", err)
	}
	log.Info("shared spool on NATS JetStream", zap.String("node", sc.Name), zap.Int("replicas", max(sc.Replicas, 1)))
	return &sharedSpool{Store: s, lock: lock}, nil, nil
}

// sharedSpool is the JetStream store and the lock on this node's spool.dir
// (one gateway per directory, as with the file spool: the control socket
// and the per-node logs live there).
type sharedSpool struct {
	*natsstore.Store
	lock *os.File
}

func (s *sharedSpool) Close() error {
	err := s.Store.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

func lockSpoolDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool.dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("spool.dir %s: locked by another process (each node needs its own spool.dir): %w", dir, err)
	}
	return f, nil
}

// openSharedForTools opens the shared spool for `passerelle queue`, as a
// client of the cluster (no lock on spool.dir: a gateway may run).
func openSharedForTools(ctx context.Context, cfg *Config) (*natsstore.Store, error) {
	sc, err := cfg.Spool.JetStream.storeConfig(zap.NewNop())
	if err != nil {
		return nil, err
	}
	sc.Name += "-cli"
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := natsstore.Open(octx, sc)
	if err != nil {
		return nil, fmt.Errorf("open shared spool: %w", err)
	}
	return s, nil
}

// sharedQueueCmd is `passerelle queue ...` with spool.backend =
// "jetstream": it works on the shared queue in the cluster directly, so it
// runs on any node (or any machine with the configuration), whichever node
// holds the message.
func sharedQueueCmd(ctx context.Context, stdout io.Writer, cfg *Config, sub string, ids []string, all, silent bool) error {
	s, err := openSharedForTools(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	id := ""
	if len(ids) == 1 {
		id = ids[0]
	}
	switch sub {
	case "list":
		envs, damaged, err := s.List(ctx)
		if err != nil {
			return err
		}
		printQueue(stdout, envs, damaged, time.Now())
	case "show":
		e, err := s.Show(ctx, id)
		if err != nil {
			return err
		}
		printEnvelope(stdout, e, time.Now())
	case "delete":
		if silent {
			if err := s.Discard(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s deleted, no DSN\n", id)
			return nil
		}
		if _, err := s.Operate(ctx, sub, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s deleted; its sender gets a DSN (from the node that next claims it, within spool.jetstream.max_defer)\n", id)
	case "retry":
		n, err := s.Operate(ctx, sub, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d message(s) due now (claimed again within spool.jetstream.max_defer)\n", n)
	default: // hold, release
		if _, err := s.Operate(ctx, sub, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", id, map[string]string{"hold": "held", "release": "released"}[sub])
	}
	return nil
}
