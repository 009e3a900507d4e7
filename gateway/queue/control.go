package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// ErrBusy means a worker is delivering the message at this moment: an
// operator's command on it is refused, to be tried again, rather than lost
// when the worker reports back.
var ErrBusy = errors.New("queue: message is being delivered right now; try again")

// Operator commands (`passerelle queue retry|hold|release|delete|show`,
// modelled on postqueue/postsuper). They run on the dispatcher's
// goroutine, which owns the in-memory index, so they never race a
// worker: a message a worker has gets ErrBusy. Hold, release and delete
// are durable (Store.Update or Store.Remove) before they return; retry
// only changes when the message is next due.

type controlOp int

const (
	opRetry controlOp = iota
	opHold
	opRelease
	opDelete
	opShow
)

type controlReq struct {
	op     controlOp
	id     string // "" with opRetry: every message
	silent bool   // opDelete: no DSN
	reply  chan controlResp
}

type controlResp struct {
	n   int
	env *Envelope
	err error
}

// Retry makes the pending recipients of message id due now (of every
// message if id is ""); held recipients stay held. It returns how many
// messages it made due.
func (q *Queue) Retry(ctx context.Context, id string) (int, error) {
	r := q.ask(ctx, &controlReq{op: opRetry, id: id})
	return r.n, r.err
}

// Hold stops delivery to the pending recipients of message id until
// Release. A held message neither expires nor is retried.
func (q *Queue) Hold(ctx context.Context, id string) error {
	return q.ask(ctx, &controlReq{op: opHold, id: id}).err
}

// Release undoes Hold and makes the message due now.
func (q *Queue) Release(ctx context.Context, id string) error {
	return q.ask(ctx, &controlReq{op: opRelease, id: id}).err
}

// Delete ends message id. Its open recipients fail with 5.0.0 "deleted by
// the operator" and the sender gets the DSN a failure gets (RFC 3461
// NOTIFY honoured), after which the message leaves the store; silent
// removes it at once, with no DSN.
func (q *Queue) Delete(ctx context.Context, id string, silent bool) error {
	return q.ask(ctx, &controlReq{op: opDelete, id: id, silent: silent}).err
}

// Show returns a copy of message id's envelope as the scheduler holds it
// (never a body).
func (q *Queue) Show(ctx context.Context, id string) (*Envelope, error) {
	r := q.ask(ctx, &controlReq{op: opShow, id: id})
	return r.env, r.err
}

func (q *Queue) ask(ctx context.Context, req *controlReq) controlResp {
	req.reply = make(chan controlResp, 1)
	select {
	case q.control <- req:
	case <-ctx.Done():
		return controlResp{err: fmt.Errorf("queue: scheduler not answering: %w", ctx.Err())}
	}
	select {
	case r := <-req.reply:
		return r
	case <-ctx.Done():
		return controlResp{err: fmt.Errorf("queue: scheduler not answering: %w", ctx.Err())}
	}
}

// control runs one command on the dispatcher's goroutine.
func (d *dispatcher) control(ctx context.Context, req *controlReq) controlResp {
	if req.op == opRetry && req.id == "" {
		n := 0
		for _, en := range d.msgs {
			if en.idle() && d.retry(en) {
				n++
			}
		}
		d.q.log.Info("operator: retry all", zap.Int("messages", n))
		return controlResp{n: n}
	}
	en := d.msgs[req.id]
	if en == nil {
		return controlResp{err: fmt.Errorf("%w: %s", ErrNotFound, req.id)}
	}
	if req.op == opShow {
		return controlResp{env: en.env.Clone()}
	}
	if !en.idle() {
		return controlResp{err: fmt.Errorf("%w: %s", ErrBusy, req.id)}
	}
	var err error
	n := 1
	switch req.op {
	case opRetry:
		if !d.retry(en) {
			n = 0
		}
	case opHold:
		err = d.change(ctx, en, func(r *Recipient) {
			if r.State == StatePending {
				r.Held = true
			}
		})
	case opRelease:
		now := d.q.cfg.Now()
		err = d.change(ctx, en, func(r *Recipient) {
			if r.Held {
				r.Held, r.NextAttempt = false, now
			}
		})
	case opDelete:
		err = d.delete(ctx, en, req.silent)
	}
	d.q.log.Info("operator command", zap.String("id", req.id), zap.String("op", req.op.String()),
		zap.Bool("silent", req.silent), zap.Error(err))
	return controlResp{n: n, err: err}
}

// retry makes en's pending, unheld recipients due now; false if it has none.
func (d *dispatcher) retry(en *entry) bool {
	now, due := d.q.cfg.Now(), false
	for i := range en.env.Recipients {
		if r := &en.env.Recipients[i]; r.State == StatePending && !r.Held {
			r.NextAttempt, due = now, true
		}
	}
	if due {
		en.notBefore = time.Time{}
		d.idle.fix(en)
	}
	return due
}

// change applies f to every recipient of en durably, then reschedules it.
func (d *dispatcher) change(ctx context.Context, en *entry, f func(*Recipient)) error {
	rcpts := cloneRecipients(en.env.Recipients)
	for i := range rcpts {
		f(&rcpts[i])
	}
	ctx, cancel := persistContext(ctx)
	defer cancel()
	if err := d.q.store.Update(ctx, en.env.ID, rcpts); err != nil {
		return fmt.Errorf("queue: %s: %w", en.env.ID, err)
	}
	en.env.Recipients = rcpts
	d.idle.fix(en)
	return nil
}

func (d *dispatcher) delete(ctx context.Context, en *entry, silent bool) error {
	if silent {
		pctx, cancel := persistContext(ctx)
		defer cancel()
		if err := d.q.store.Remove(pctx, en.env.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("queue: %s: %w", en.env.ID, err)
		}
		d.idle.remove(en)
		delete(d.msgs, en.env.ID)
		return nil
	}
	cause := Permanent(errors.New("deleted from the queue by the operator"))
	return d.change(ctx, en, func(r *Recipient) {
		if r.State == StatePending {
			r.Held = false
			d.q.fail(r, cause, "5.0.0", false)
		}
	}) // the next pass reports the failure (one DSN) and removes the message
}

func (o controlOp) String() string {
	return [...]string{"retry", "hold", "release", "delete", "show"}[o]
}

// never is the due time of a message whose every open recipient is held.
func never() time.Time { return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }

// held reports whether e has a held pending recipient.
func (e *Envelope) held() bool {
	for _, r := range e.Recipients {
		if r.Held && r.State == StatePending {
			return true
		}
	}
	return false
}
