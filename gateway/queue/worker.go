package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// persistTimeout bounds a state write. Writes outlive shutdown's grace so
// that a finished delivery is recorded.
const persistTimeout = 30 * time.Second

// process makes one pass over a message: it attempts every due pending
// recipient (persisting the state after each attempt, before acting on
// it, unless the message is then done: its removal records that), sends
// one DSN for the recipients that failed, and removes the message once it
// is done. New attempts start only while ctx is live;
// attempts run on workCtx.
func (q *Queue) process(ctx, workCtx context.Context, e *Envelope) result {
	if text := setAsideText(e); text != "" { // a store error interrupted it
		return q.setAside(workCtx, e, text, errors.New(text))
	}
	if _, shared := q.store.(SharedStore); shared {
		// Failures another node recorded but did not report (it died in
		// between) are reported first, as that node would have: the same
		// recipients, so the same DSN id, which the store keeps once.
		if err := q.report(workCtx, e); err != nil {
			return q.storeFailed(e, "report failure", err)
		}
	}
	for i := range e.Recipients {
		r := &e.Recipients[i]
		if r.State != StatePending || r.Held || r.NextAttempt.After(q.cfg.Now()) || ctx.Err() != nil {
			continue
		}
		passedOn, err := q.attempt(workCtx, e, r)
		if errors.Is(err, ErrDamaged) { // M5: the sender hears of it
			return q.setAside(workCtx, e, damagedText, err)
		}
		if err != nil && workCtx.Err() != nil {
			break // cut short by shutdown: not counted, retried on restart
		}
		q.apply(e, r, err)
		if err == nil && r.wantsSuccessDSN() && !passedOn {
			r.Success = string(q.successAction(r.Route))
		}
		if e.Done() {
			continue // the removal below records it: no state write to wait for
		}
		if err := q.persist(workCtx, e); err != nil {
			return q.storeFailed(e, "persist state", err)
		}
	}
	if err := q.warnDelayed(workCtx, e); err != nil {
		return q.storeFailed(e, "delay notice", err)
	}
	if err := q.notifySuccess(workCtx, e); err != nil {
		return q.storeFailed(e, "success notice", err)
	}
	if err := q.report(workCtx, e); err != nil {
		return q.storeFailed(e, "report failure", err)
	}
	return q.removeIfDone(workCtx, e)
}

// attempt calls the recipient's target, turning a panic into a temporary
// error and an unknown route into a permanent one.
func (q *Queue) attempt(ctx context.Context, e *Envelope, r *Recipient) (passedOn bool, err error) {
	t, ok := q.cfg.Targets[r.Route]
	if !ok {
		return false, WithDiagnostic(Permanent(fmt.Errorf("no delivery target for route %q", r.Route)),
			Diagnostic{Status: "5.4.4"}) // RFC 3463: unable to route
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.AttemptTimeout)
	defer cancel()
	began := time.Now()
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("target panic", zap.String("id", e.ID), zap.String("route", r.Route),
				zap.String("panic", fmt.Sprint(p)), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("target %q panicked", r.Route)
		}
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			q.cfg.Metrics.Attempt(r.Route, attemptResult(err), time.Since(began))
		}
	}()
	d := q.delivery(e, r)
	err = t.Deliver(ctx, d)
	return d.PassedOn, err
}

func (q *Queue) delivery(e *Envelope, r *Recipient) *Delivery {
	id, n := e.ID, r.Body
	rc := cloneRecipients([]Recipient{*r})[0]
	return &Delivery{
		ID: id, From: e.From, Received: e.Received, IsDSN: e.IsDSN, EnvID: e.EnvID,
		Recipient: rc, Body: e.Bodies[n],
		Open: func(ctx context.Context) (rc io.ReadCloser, err error) { return q.store.OpenBody(ctx, id, n) },
	}
}

func (q *Queue) persist(ctx context.Context, e *Envelope) error {
	ctx, cancel := persistContext(ctx)
	defer cancel()
	return q.store.Update(ctx, e.ID, e.Recipients)
}

func persistContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
}

func (q *Queue) removeIfDone(ctx context.Context, e *Envelope) result {
	if !e.Done() {
		return result{id: e.ID, env: e}
	}
	ctx, cancel := persistContext(ctx)
	defer cancel()
	if err := q.store.Remove(ctx, e.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return q.storeFailed(e, "remove", err)
	}
	q.log.Debug("message finished", zap.String("id", e.ID))
	return result{id: e.ID}
}

func (q *Queue) quarantine(ctx context.Context, e *Envelope, cause error) result {
	ctx, cancel := persistContext(ctx)
	defer cancel()
	if err := q.store.Quarantine(ctx, e.ID, cause.Error()); err != nil {
		return q.storeFailed(e, "quarantine", err)
	}
	return result{id: e.ID} // the store logged it at error level
}

// storeFailed keeps the message in memory and looks at it again after
// RetryInitial; what was not persisted is at worst repeated after a crash.
func (q *Queue) storeFailed(e *Envelope, op string, err error) result {
	if errors.Is(err, ErrNotFound) {
		q.log.Warn("message left the store", zap.String("id", e.ID), zap.String("op", op))
		return result{id: e.ID}
	}
	q.log.Error("spool write failed", zap.String("id", e.ID), zap.String("op", op), zap.Error(err))
	return result{id: e.ID, env: e, notBefore: q.cfg.Now().Add(q.cfg.RetryInitial)}
}
