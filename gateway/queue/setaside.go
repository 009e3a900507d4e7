package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// Texts a sender is told when the queue sets a message aside (M5, L7).
// They also mark the recipients in the stored envelope, so a pass cut short
// by a store error finishes the quarantine instead of removing the message.
const (
	damagedText = "message could not be delivered: damaged in the spool"
	panicText   = "message could not be delivered: the gateway failed repeatedly while processing it"
)

// maxPanics is how many consecutive passes over one message may panic
// before it is quarantined (with a DSN where one can be built).
const maxPanics = 3

// setAside fails every pending recipient of e with text (5.3.0, RFC 3463:
// other or undefined mail system status), persists that, reports the
// failures in one DSN to the sender (never to <> or about a DSN; the DSN
// quotes nothing of the stored body) and quarantines e with cause. It is
// idempotent, so a retry after a store error completes it.
func (q *Queue) setAside(ctx context.Context, e *Envelope, text string, cause error) result {
	now := q.cfg.Now()
	for i := range e.Recipients {
		r := &e.Recipients[i]
		if r.State != StatePending {
			continue
		}
		r.State, r.NextAttempt, r.LastAttempt = StateFailed, time.Time{}, now
		r.LastError, r.Diag = text, &Diagnostic{Status: "5.3.0"}
	}
	if err := q.persist(ctx, e); err != nil {
		return q.storeFailed(e, "persist state", err)
	}
	if err := q.reportSafely(ctx, e); err != nil {
		return q.storeFailed(e, "report failure", err)
	}
	res := q.quarantine(ctx, e, cause)
	if res.env == nil {
		q.log.Error("message set aside: sender notified, operator action needed",
			zap.String("id", e.ID), zap.String("reason", text), zap.Error(cause),
			zap.String("action", "inspect the spool's quarantine/"+e.ID+"/ (reason.txt); the sender was sent a DSN where one was owed; remove the directory when done"))
	}
	return res
}

// reportSafely is report, with a panic (a DSN that cannot be built) turned
// into "no DSN": the message is still quarantined, and the operator told.
func (q *Queue) reportSafely(ctx context.Context, e *Envelope) (err error) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("DSN for a quarantined message panicked; quarantined without one",
				zap.String("id", e.ID), zap.String("panic", fmt.Sprint(p)), zap.ByteString("stack", debug.Stack()))
			err = nil
		}
	}()
	return q.report(ctx, e)
}

// NotifyDamaged tells the senders of entries quarantined at start-up (the
// [Damaged] that Recover returned with a readable envelope) that their
// message cannot be delivered: one 5.3.0 DSN per message for its
// recipients not yet delivered or reported, under the same rules as any
// DSN (never to <>, never about a DSN, NOTIFY honoured). The entry stays
// in quarantine; a crash before this runs loses the notice, never repeats
// it. Call it before [Queue.Run].
func (q *Queue) NotifyDamaged(ctx context.Context, damaged []Damaged) {
	for _, d := range damaged {
		if d.Envelope == nil {
			q.log.Error("quarantined entry's sender cannot be told: envelope unreadable",
				zap.String("id", d.ID), zap.String("reason", d.Reason),
				zap.String("action", "inspect the spool's quarantine/"+d.ID+"/; the sender was not notified"))
			continue
		}
		e := d.Envelope.Clone()
		var idx []int
		for i := range e.Recipients {
			r := &e.Recipients[i]
			if r.State == StateDelivered || r.Reported {
				continue
			}
			r.State, r.NextAttempt, r.LastAttempt = StateFailed, time.Time{}, q.cfg.Now()
			r.LastError, r.Diag = damagedText, &Diagnostic{Status: "5.3.0"}
			idx = append(idx, i)
		}
		if len(idx) == 0 {
			continue
		}
		if err := q.sendDSN(ctx, e, idx); err != nil {
			q.log.Error("DSN for a quarantined entry not sent", zap.String("id", d.ID), zap.Error(err))
			continue
		}
		q.log.Error("message quarantined at start-up: sender notified, operator action needed",
			zap.String("id", d.ID), zap.String("reason", d.Reason),
			zap.String("action", "inspect the spool's quarantine/"+d.ID+"/ (reason.txt); remove the directory when done"))
	}
}

// setAsideText returns the text of a set-aside recipient of e, or "".
func setAsideText(e *Envelope) string {
	for _, r := range e.Recipients {
		if r.State == StateFailed && (r.LastError == damagedText || r.LastError == panicText) {
			return r.LastError
		}
	}
	return ""
}

// panicked records a panic during a pass over e (L7). It counts as an
// attempt for each due pending recipient, so backoff, lifetime and expiry
// apply, and as a consecutive panic for the message, durably: after
// maxPanics the message is set aside. The result goes back to the
// dispatcher.
//
// before is the envelope as the pass began: a recipient whose outcome the
// pass was recording when it panicked is put back as it was and given the
// panic as its outcome instead (one attempt, not two); a delivered one
// stays delivered.
func (q *Queue) panicked(ctx context.Context, e, before *Envelope, p any) result {
	now := q.cfg.Now()
	perr := fmt.Errorf("queue: processing panicked: %v", p)
	n := 0
	for i := range e.Recipients {
		r := &e.Recipients[i]
		if r.State != StateDelivered && r.Attempts != before.Recipients[i].Attempts {
			*r = cloneRecipients(before.Recipients[i : i+1])[0]
		}
		if r.done() {
			continue
		}
		r.Panics++
		n = max(n, r.Panics)
		if r.State == StatePending && !r.NextAttempt.After(now) {
			q.apply(e, r, perr)
		}
	}
	if n >= maxPanics {
		q.log.Error("message panicked repeatedly; quarantining", zap.String("id", e.ID), zap.Int("panics", n))
		return q.setAsideSafely(ctx, e, perr)
	}
	if err := q.persist(ctx, e); err != nil {
		return q.storeFailed(e, "persist panic", err)
	}
	return result{id: e.ID, env: e, notBefore: now.Add(q.cfg.RetryInitial)}
}

// setAsideSafely is setAside for a message that panics: if setting it
// aside panics too, it is quarantined without a DSN.
func (q *Queue) setAsideSafely(ctx context.Context, e *Envelope, cause error) (res result) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("setting a message aside panicked; quarantining without a DSN",
				zap.String("id", e.ID), zap.String("panic", fmt.Sprint(p)))
			res = q.quarantine(ctx, e, cause)
		}
	}()
	return q.setAside(ctx, e, panicText, cause)
}

// resetPanics clears the consecutive-panic count after a pass that ran to
// its end.
func (q *Queue) resetPanics(ctx context.Context, e *Envelope) {
	changed := false
	for i := range e.Recipients {
		if e.Recipients[i].Panics != 0 {
			e.Recipients[i].Panics, changed = 0, true
		}
	}
	if changed {
		if err := q.persist(ctx, e); err != nil && !errors.Is(err, ErrNotFound) {
			q.log.Warn("panic count not reset", zap.String("id", e.ID), zap.Error(err))
		}
	}
}
