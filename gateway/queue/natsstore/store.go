package natsstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// Defaults. JetStream's own consumer defaults (30 s ack wait, unlimited
// redeliveries) are wrong for mail; every one is set explicitly.
const (
	DefaultStream     = "PASSERELLE_SPOOL"
	DefaultReplicas   = 1
	DefaultAckWait    = 2 * time.Minute
	DefaultMaxDefer   = 15 * time.Minute
	DefaultMaxDeliver = 100000
	DefaultFetchWait  = time.Second
	consumerName      = "passerelle"
)

// Config configures a [Store].
type Config struct {
	URLs            []string // nats://host:port of the cluster's servers
	CredentialsFile string   // NATS .creds file (JWT and NKey seed), or ""
	TLSCAFile       string   // CA certificates for tls:// servers; "": the system roots
	User, Password  string   // user and password, or ""
	Token           string   // token, or ""
	Name            string   // this node's name, in logs and the connection name

	Stream   string // stream name; the KV and object buckets are named after it
	Replicas int    // stream, consumer, KV and object store replicas (1, 3 or 5)
	// AckWait is how long a claim lasts without renewal: a node that dies
	// holding a message delays it by about this much. Renewed every
	// AckWait/4 while held.
	AckWait time.Duration
	// MaxDefer bounds one deferral: a message not due for longer is
	// handed out again after MaxDefer and deferred again, so that an
	// operator's retry or release through another node takes effect
	// within it.
	MaxDefer time.Duration
	// MaxDeliver is the consumer's limit on deliveries of one message
	// (claims, deferrals and redeliveries after a node died). Past it
	// JetStream stops handing the message out: it must exceed
	// queue lifetime / MaxDefer by a wide margin.
	MaxDeliver int
	// Duplicates is the stream's duplicate window (Nats-Msg-Id); at least
	// 4 × AckWait, so a node that takes over a message re-spools its DSN
	// inside the window. Default max(1h, 4 × AckWait).
	Duplicates time.Duration
	FetchWait  time.Duration // how long one Claim waits for work

	Log *zap.Logger
}

func (c *Config) setDefaults() error {
	if len(c.URLs) == 0 {
		return errors.New("natsstore: no server URLs")
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if strings.ContainsAny(c.Stream, ".*> \t") {
		return fmt.Errorf("natsstore: stream name %q: no dots, wildcards or spaces", c.Stream)
	}
	if c.Replicas <= 0 {
		c.Replicas = DefaultReplicas
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDefer <= 0 {
		c.MaxDefer = DefaultMaxDefer
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Duplicates <= 0 {
		c.Duplicates = max(time.Hour, 4*c.AckWait)
	}
	if c.FetchWait <= 0 {
		c.FetchWait = DefaultFetchWait
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return nil
}

// Store is the JetStream spool. See the package documentation.
type Store struct {
	cfg    Config
	log    *zap.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	cons   jetstream.Consumer
	kv     jetstream.KeyValue
	obj    jetstream.ObjectStore
	prefix string // "<stream>.put."
	// inlineMax is how many body bytes go in the put record: the server's
	// max_payload less room for the envelope.
	inlineMax int

	mu     sync.Mutex
	claims map[string]*claim

	stop chan struct{}
	wg   sync.WaitGroup
}

// claim is a message this node holds.
type claim struct {
	msg    jetstream.Msg
	seq    uint64 // stream sequence of the put record
	rev    uint64 // KV revision of the state read or last written; 0: none yet
	env    *queue.Envelope
	inline [][]byte // per body; nil for a body in the object store
}

var _ queue.SharedStore = (*Store)(nil)

// Open connects, creates or updates the stream, consumer, KV bucket and
// object store, and starts renewing claims. Close it when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Log.Named("natsstore"), prefix: cfg.Stream + ".put.",
		claims: map[string]*claim{}, stop: make(chan struct{})}
	if err := s.connect(); err != nil {
		return nil, err
	}
	// A cluster that is starting (or lost a node) answers JetStream API
	// requests only once it has a leader: try again until ctx ends.
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.setup(actx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			s.nc.Close()
			return nil, err
		}
		s.log.Warn("JetStream not ready; trying again", zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	s.wg.Add(1)
	go s.renew()
	return s, nil
}

func (s *Store) connect() error {
	opts := []nats.Option{
		nats.Name("passerelle " + s.cfg.Name),
		nats.MaxReconnects(-1), // a NATS node going away is routine in a cluster
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed by Close
				s.log.Warn("NATS connection lost; reconnecting", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("NATS reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
	}
	if s.cfg.CredentialsFile != "" {
		if _, err := os.Stat(s.cfg.CredentialsFile); err != nil {
			return fmt.Errorf("natsstore: credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(s.cfg.CredentialsFile))
	}
	if s.cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(s.cfg.TLSCAFile))
	}
	if s.cfg.User != "" {
		opts = append(opts, nats.UserInfo(s.cfg.User, s.cfg.Password))
	}
	if s.cfg.Token != "" {
		opts = append(opts, nats.Token(s.cfg.Token))
	}
	nc, err := nats.Connect(strings.Join(s.cfg.URLs, ","), opts...)
	if err != nil {
		return fmt.Errorf("natsstore: connect: %w", err)
	}
	s.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("natsstore: %w", err)
	}
	s.js = js
	// Leave room for the envelope, headers and protocol overhead.
	s.inlineMax = max(int(nc.MaxPayload())-128<<10, 0)
	return nil
}

func (s *Store) setup(ctx context.Context) error {
	var err error
	s.stream, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.cfg.Stream,
		Description: "Passerelle shared spool: one put record per message",
		Subjects:    []string{s.prefix + "*"},
		Retention:   jetstream.LimitsPolicy, // records go when a node removes them, not on ack
		Discard:     jetstream.DiscardNew,   // a full stream refuses mail (451), never drops it
		MaxMsgs:     -1, MaxBytes: -1, MaxAge: 0, MaxMsgsPerSubject: -1,
		Storage:    jetstream.FileStorage,
		Replicas:   s.cfg.Replicas,
		Duplicates: s.cfg.Duplicates,
	})
	if err != nil {
		return fmt.Errorf("natsstore: stream %s: %w", s.cfg.Stream, err)
	}
	s.cons, err = s.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "Passerelle nodes claim messages here",
		FilterSubject: s.prefix + ">",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver,
		// Deferred messages stay pending (a delayed NAK keeps them in the
		// pending list): no limit, or a queue of 1000 deferred messages
		// would stop every node from claiming new ones.
		MaxAckPending: -1,
		MaxWaiting:    512,
		Replicas:      s.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsstore: consumer: %w", err)
	}
	s.kv, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      s.cfg.Stream + "_STATE",
		Description: "Passerelle shared spool: per-recipient state by message id",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsstore: state bucket: %w", err)
	}
	s.obj, err = s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      s.cfg.Stream + "_BODIES",
		Description: "Passerelle shared spool: bodies above max_payload",
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsstore: body bucket: %w", err)
	}
	return nil
}

// renew tells the server every AckWait/4 that this node still works on
// the messages it holds (+WPI), so their claims do not lapse.
func (s *Store) renew() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.AckWait / 4)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(s.claims))
		for _, c := range s.claims {
			msgs = append(msgs, c.msg)
		}
		s.mu.Unlock()
		for _, m := range msgs {
			if err := m.InProgress(); err != nil {
				s.log.Warn("renewing a claim failed", zap.String("subject", m.Subject()), zap.Error(err))
			}
		}
	}
}

// Close stops renewing claims and closes the connection. Messages still
// held are given back when their claims lapse.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	s.wg.Wait()
	if err := s.nc.Drain(); err != nil {
		s.nc.Close()
	}
	return nil
}

// Node is this node's name.
func (s *Store) Node() string { return s.cfg.Name }

func (s *Store) held(id string) (*claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.claims[id]
	if c == nil {
		return nil, fmt.Errorf("%w: %s is not held by this node", queue.ErrNotFound, id)
	}
	return c, nil
}

func (s *Store) drop(id string) *claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.claims[id]
	delete(s.claims, id)
	return c
}

func (s *Store) objName(id string, n int) string { return fmt.Sprintf("%s.%d", id, n) }

func temporary(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%w: %s: %w", queue.ErrTemporary, op, err)
}
