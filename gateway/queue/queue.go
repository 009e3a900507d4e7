package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Queue schedules delivery of the messages in a [Store].
type Queue struct {
	cfg   Config
	store Store
	log   *zap.Logger

	// loadMu makes Run's initial Load and each Put's store-and-announce
	// atomic with respect to each other, so a message is never both loaded
	// and announced after the dispatcher already finished it.
	loadMu sync.RWMutex

	inboxMu sync.Mutex
	inbox   []*Envelope   // announced by Put, taken by the dispatcher
	wake    chan struct{} // capacity 1: "look at the inbox"

	statsReq chan chan Stats  // Stats asks the dispatcher
	control  chan *controlReq // operator commands (control.go), for the dispatcher

	running atomic.Bool
	loops   atomic.Int64 // dispatcher iterations, for the no-spin test
}

// New checks cfg and returns a Queue. Nothing runs until [Queue.Run].
func New(cfg Config) (*Queue, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	cfg.Targets = maps.Clone(cfg.Targets) // read by workers: no caller changes
	return &Queue{
		cfg:   cfg,
		store: cfg.Store,
		log:   cfg.Log.Named("queue"),
		wake:  make(chan struct{}, 1),

		statsReq: make(chan chan Stats),
		control:  make(chan *controlReq),
	}, nil
}

// Store returns the store the queue delivers from.
func (q *Queue) Store() Store { return q.store }

// Put spools a message durably (see [Store].Put) and hands it to the
// scheduler. It is what smtpd and the XMPP bridge call before they
// acknowledge a message. It may be called before or while Run runs.
func (q *Queue) Put(ctx context.Context, env *Envelope, bodies ...io.Reader) error {
	if env.Received.IsZero() {
		env.Received = q.cfg.Now()
	}
	q.loadMu.RLock()
	defer q.loadMu.RUnlock()
	if err := q.store.Put(ctx, env, bodies...); err != nil {
		return err
	}
	if _, shared := q.store.(SharedStore); shared {
		return nil // every node claims it from the store
	}
	q.announce(env.Clone())
	return nil
}

func (q *Queue) announce(e *Envelope) {
	q.inboxMu.Lock()
	q.inbox = append(q.inbox, e)
	q.inboxMu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) takeInbox() []*Envelope {
	q.inboxMu.Lock()
	defer q.inboxMu.Unlock()
	in := q.inbox
	q.inbox = nil
	return in
}

// Run loads every pending message and delivers until ctx is cancelled.
// Then it starts no new attempt, gives attempts in flight
// Config.ShutdownGrace to finish, and returns nil; undelivered state stays
// in the store for the next Run. It returns an error only if the store
// cannot be loaded.
func (q *Queue) Run(ctx context.Context) error {
	if !q.running.CompareAndSwap(false, true) {
		return errors.New("queue: already running")
	}
	defer q.running.Store(false)
	msgs, err := q.load(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	q.log.Info("queue started", zap.Int("messages", len(msgs)), zap.Int("workers", q.cfg.Workers))
	workCtx, cancel := graceContext(ctx, q.cfg.ShutdownGrace)
	defer cancel()
	d := newDispatcher(q, msgs)
	d.loop(ctx, workCtx)
	q.log.Info("queue stopped", zap.Int("messages", len(d.msgs)))
	return nil
}

func (q *Queue) load(ctx context.Context) ([]*Envelope, error) {
	if _, shared := q.store.(SharedStore); shared {
		return nil, nil // claimed piece by piece (shared.go)
	}
	q.loadMu.Lock()
	defer q.loadMu.Unlock()
	msgs, err := q.store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return msgs, nil
}

// graceContext returns a context for work in flight: it ends grace after
// parent does, or when cancel is called.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() { time.AfterFunc(grace, cancel) })
	return ctx, func() { stop(); cancel() }
}
