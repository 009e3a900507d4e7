package queue

import (
	"bytes"
	"context"
	"fmt"

	"go.uber.org/zap"
)

// report sends one DSN covering every recipient that failed and is not
// yet reported, then marks them reported. If the DSN cannot be spooled the
// recipients stay unreported and are retried after RetryInitial.
func (q *Queue) report(ctx context.Context, e *Envelope) error {
	var failed []int
	for i := range e.Recipients {
		if r := &e.Recipients[i]; r.State == StateFailed && !r.Reported {
			failed = append(failed, i)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if err := q.sendDSN(ctx, e, failed); err != nil {
		for _, i := range failed {
			e.Recipients[i].NextAttempt = q.cfg.Now().Add(q.cfg.RetryInitial)
		}
		_ = q.persist(ctx, e)
		return err
	}
	for _, i := range failed {
		e.Recipients[i].Reported = true
	}
	return q.persist(ctx, e)
}

// sendDSN spools a DSN for the failed recipients that asked for one. It
// never reports to the null sender or about a DSN (RFC 3461 §6.2, RFC 5321
// §4.5.5); a failed DSN is logged at error level for the operator.
func (q *Queue) sendDSN(ctx context.Context, e *Envelope, failed []int) error {
	log := q.log.With(zap.String("id", e.ID), zap.Int("failed", len(failed)))
	switch {
	case e.IsDSN:
		log.Error("delivery status notification undeliverable; dropped",
			zap.String("rcpt", q.cfg.HashAddr(e.Recipients[failed[0]].Addr)),
			zap.String("reason", e.Recipients[failed[0]].LastError))
		return nil
	case e.From == "":
		log.Info("no DSN: null reverse-path")
		return nil
	}
	var notify []int
	for _, i := range failed {
		if e.Recipients[i].wantsFailureDSN() {
			notify = append(notify, i)
		}
	}
	if len(notify) == 0 {
		log.Info("no DSN: NOTIFY excludes FAILURE")
		return nil
	}
	return q.spoolDSN(ctx, e, notify, actionFailed)
}

func (q *Queue) spoolDSN(ctx context.Context, e *Envelope, idx []int, action dsnAction) error {
	body, err := q.buildDSN(ctx, e, idx, action)
	if err != nil {
		return fmt.Errorf("build DSN for %s: %w", e.ID, err)
	}
	dsn := &Envelope{
		From: "", IsDSN: true, Received: q.cfg.Now(),
		Bodies:     []Body{{Kind: BodyMessage}},
		Recipients: []Recipient{{Addr: e.From}},
	}
	if _, shared := q.store.(SharedStore); shared {
		dsn.ID = DSNID(e.ID, string(action), idx) // see SharedStore: kept once
	}
	routed := q.cfg.BounceRoute != nil
	if routed {
		dsn.Recipients[0].Route, dsn.Recipients[0].Params, routed = q.cfg.BounceRoute(e.From)
	}
	pctx, cancel := persistContext(ctx)
	defer cancel()
	put := q.Put // announce to the scheduler
	if !routed {
		put = q.store.Put // goes straight to quarantine
	}
	if err := put(pctx, dsn, bytes.NewReader(body)); err != nil {
		return fmt.Errorf("spool DSN for %s: %w", e.ID, err)
	}
	log := q.log.With(zap.String("id", e.ID), zap.String("dsn", dsn.ID),
		zap.String("to", q.cfg.HashAddr(e.From)))
	if !routed {
		// Keep it for the operator rather than drop it.
		log.Error("no route for DSN; quarantined")
		return q.store.Quarantine(pctx, dsn.ID, "no bounce route for the reverse-path")
	}
	log.Info("DSN spooled", zap.Int("rcpts", len(idx)), zap.String("action", string(action)))
	return nil
}
