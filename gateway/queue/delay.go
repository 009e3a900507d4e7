package queue

import (
	"context"
	"strings"
	"time"
)

// warnDelayed sends one delay notice (RFC 3464 Action: delayed) about the
// recipients of e still pending once e has been queued for
// Config.DelayWarning, and marks each of them so none is warned about
// twice. The mark is persisted before the notice is spooled: a crash in
// between loses a warning, never repeats one. No notice goes to <>, about a
// DSN, or to a recipient whose NOTIFY excludes DELAY (RFC 3461 §4.1).
func (q *Queue) warnDelayed(ctx context.Context, e *Envelope) error {
	due := q.delayDue(e)
	if len(due) == 0 {
		return nil
	}
	for _, i := range due {
		e.Recipients[i].DelayReported = true
	}
	if err := q.persist(ctx, e); err != nil {
		return err
	}
	var notify []int
	for _, i := range due {
		if e.Recipients[i].wantsDelayDSN() {
			notify = append(notify, i)
		}
	}
	if e.From == "" || e.IsDSN || len(notify) == 0 {
		return nil
	}
	if err := q.spoolDSN(ctx, e, notify, actionDelayed); err != nil {
		// Owed again; the error makes the pass wait RetryInitial.
		for _, i := range due {
			e.Recipients[i].DelayReported = false
		}
		_ = q.persist(ctx, e)
		return err
	}
	return nil
}

// delayDue lists the pending recipients of e owed a delay warning now.
func (q *Queue) delayDue(e *Envelope) []int {
	if q.cfg.DelayWarning <= 0 || q.cfg.Now().Before(e.Received.Add(q.cfg.DelayWarning)) {
		return nil
	}
	var due []int
	for i := range e.Recipients {
		if r := &e.Recipients[i]; r.State == StatePending && !r.DelayReported {
			due = append(due, i)
		}
	}
	return due
}

// delayAt is when e next owes a delay warning, or the zero time.
func delayAt(e *Envelope, warn time.Duration) time.Time {
	if warn <= 0 {
		return time.Time{}
	}
	for _, r := range e.Recipients {
		if r.State == StatePending && !r.DelayReported {
			return e.Received.Add(warn)
		}
	}
	return time.Time{}
}

// wantsDelayDSN applies RFC 3461 §4.1: without NOTIFY the MTA behaves as
// if NOTIFY=FAILURE,DELAY was given.
func (r *Recipient) wantsDelayDSN() bool {
	if len(r.Notify) == 0 {
		return true
	}
	for _, n := range r.Notify {
		if strings.EqualFold(n, "DELAY") {
			return true
		}
	}
	return false
}
