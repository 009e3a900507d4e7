package queue

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// idleWait is how long the dispatcher sleeps when nothing is scheduled.
const idleWait = time.Hour

// entry is the dispatcher's view of one message. An idle entry is in the
// dispatcher's dueHeap; a busy one (a worker has it) is not.
type entry struct {
	env       *Envelope
	notBefore time.Time // set after a store error, to avoid spinning
	at        time.Time // dueAt, cached while in the heap
	seq       uint64    // order of entering the heap, for ties
	index     int       // position in the heap; -1 while a worker has it
}

// idle reports whether the entry is in the heap (no worker has it).
func (e *entry) idle() bool { return e.index >= 0 }

// result is what a worker hands back: the message's new state, or nil env
// if it left the store (removed or quarantined).
type result struct {
	id        string
	env       *Envelope
	notBefore time.Time
}

// dispatcher owns the in-memory index of messages; only its goroutine
// touches msgs, idle and inflight. msgs holds every message, idle only
// those no worker has, so finding the due ones costs O(log n) each
// instead of a scan of the queue.
type dispatcher struct {
	q        *Queue
	msgs     map[string]*entry
	idle     dueHeap
	inflight int
	results  chan result

	// With a SharedStore: a Claim is under way; its result arrives on claimed.
	claiming bool
	claimed  chan []*Envelope
}

func newDispatcher(q *Queue, envs []*Envelope) *dispatcher {
	d := &dispatcher{q: q, msgs: make(map[string]*entry), results: make(chan result, q.cfg.Workers),
		claimed: make(chan []*Envelope, 1)}
	d.idle.delayWarn = q.cfg.DelayWarning
	d.add(context.Background(), envs)
	return d
}

func (d *dispatcher) add(ctx context.Context, envs []*Envelope) {
	for _, e := range envs {
		if _, ok := d.msgs[e.ID]; !ok {
			en := &entry{env: e}
			if d.deferShared(ctx, en) {
				continue
			}
			d.msgs[e.ID] = en
			d.idle.push(en)
		}
	}
}

// loop runs until ctx ends, then waits for the workers, which run on
// workCtx.
func (d *dispatcher) loop(ctx, workCtx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		d.q.loops.Add(1)
		d.add(workCtx, d.q.takeInbox())
		d.dispatch(ctx, workCtx)
		if ss, ok := d.q.store.(SharedStore); ok && !d.claiming && ctx.Err() == nil && len(d.msgs) < d.q.cfg.Workers {
			d.claim(ctx, ss, d.q.cfg.Workers-len(d.msgs))
		}
		// With every worker busy, a due message can only start when one
		// finishes (a result arrives): do not spin on an expired timer.
		wait := idleWait
		if d.inflight < d.q.cfg.Workers {
			wait = d.nextWake()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			d.drain()
			return
		case <-d.q.wake:
		case r := <-d.results:
			d.finish(workCtx, r)
		case envs := <-d.claimed:
			d.claiming = false
			d.add(workCtx, envs)
		case reply := <-d.q.statsReq:
			reply <- d.stats()
		case req := <-d.q.control:
			req.reply <- d.control(workCtx, req)
		case <-timer.C:
		}
	}
}

func (d *dispatcher) drain() {
	for d.inflight > 0 {
		d.finish(context.Background(), <-d.results)
	}
	d.release()
}

func (d *dispatcher) finish(ctx context.Context, r result) {
	d.inflight--
	if r.env == nil {
		delete(d.msgs, r.id)
		return
	}
	e := &entry{env: r.env, notBefore: r.notBefore}
	if d.deferShared(ctx, e) {
		delete(d.msgs, r.id)
		return
	}
	d.msgs[r.id] = e
	d.idle.push(e)
}

// dispatch starts a worker for each idle message that is due, earliest
// first, up to Config.Workers at once.
func (d *dispatcher) dispatch(ctx, workCtx context.Context) {
	now := d.q.cfg.Now()
	for d.inflight < d.q.cfg.Workers && ctx.Err() == nil {
		if e := d.idle.peek(); e == nil || e.at.After(now) {
			return
		}
		e := d.idle.pop()
		d.inflight++
		// The worker mutates its clone; e.env stays as the pass began (the
		// dispatcher does not touch it until the result comes back).
		go d.work(ctx, workCtx, e.env.ID, e.env.Clone(), e.env)
	}
}

// work processes one message on its own goroutine and always reports back.
// before is the message as the pass began (read only).
func (d *dispatcher) work(ctx, workCtx context.Context, id string, env, before *Envelope) {
	res := result{id: id, env: env}
	defer func() {
		if p := recover(); p != nil {
			d.q.log.Error("worker panic", zap.String("id", id),
				zap.String("panic", fmt.Sprint(p)), zap.ByteString("stack", debug.Stack()))
			res = d.recordPanic(workCtx, id, env, before, p)
		}
		d.results <- res
	}()
	res = d.q.process(ctx, workCtx, env)
	if res.env != nil {
		d.q.resetPanics(workCtx, res.env)
	}
}

// recordPanic counts a panic of a pass ([Queue.panicked]); if that panics
// too, the message is only retried after RetryInitial.
func (d *dispatcher) recordPanic(ctx context.Context, id string, env, before *Envelope, p any) (res result) {
	defer func() {
		if p2 := recover(); p2 != nil {
			d.q.log.Error("recording a worker panic panicked", zap.String("id", id), zap.String("panic", fmt.Sprint(p2)))
			res = result{id: id, env: env, notBefore: d.q.cfg.Now().Add(d.q.cfg.RetryInitial)}
		}
	}()
	return d.q.panicked(ctx, env, before, p)
}

// nextWake is how long until the earliest idle message is due, at most
// idleWait.
func (d *dispatcher) nextWake() time.Duration {
	e := d.idle.peek()
	if e == nil {
		return idleWait
	}
	return min(max(e.at.Sub(d.q.cfg.Now()), 0), idleWait)
}

// dueAt is when the message next needs work: the earliest NextAttempt of a
// pending recipient or of a failed one whose DSN is still owed.
func (e *entry) dueAt(delayWarn time.Duration) time.Time {
	var at time.Time
	found := false
	for i := range e.env.Recipients {
		r := &e.env.Recipients[i]
		if r.done() || r.Held {
			continue
		}
		if !found || r.NextAttempt.Before(at) {
			at, found = r.NextAttempt, true
		}
	}
	if !found { // finished but not yet removed, or held
		at = time.Time{}
		if e.env.held() {
			at = never()
		}
	}
	if w := delayAt(e.env, delayWarn); !w.IsZero() && w.Before(at) {
		at = w // a delay warning is owed before the next attempt
	}
	if at.Before(e.notBefore) {
		at = e.notBefore
	}
	return at
}
