package queue

import (
	"strings"
	"time"

	"go.uber.org/zap"
)

// maxErrorLen bounds an error text kept in the envelope and put in a DSN.
const maxErrorLen = 400

// apply records the outcome of one attempt in r.
func (q *Queue) apply(e *Envelope, r *Recipient, err error) {
	now := q.cfg.Now()
	deadline := e.Received.Add(q.cfg.Lifetime)
	r.Attempts++
	r.LastAttempt = now
	log := q.log.With(zap.String("id", e.ID), zap.String("rcpt", q.cfg.HashAddr(r.Addr)),
		zap.String("route", r.Route), zap.Int("attempt", r.Attempts))
	switch {
	case err == nil:
		r.State, r.LastError, r.Diag, r.NextAttempt = StateDelivered, "", nil, time.Time{}
		log.Info("delivered")
	case IsPermanent(err):
		q.fail(r, err, "5.0.0", false)
		log.Warn("permanent failure", zap.Error(err))
	case !now.Before(deadline):
		q.fail(r, err, "4.4.7", true) // RFC 3463: delivery time expired
		log.Warn("expired", zap.Error(err), zap.Duration("lifetime", q.cfg.Lifetime))
	default:
		r.LastError = sanitize(err.Error())
		r.Diag = diagnosticOf(err)
		r.NextAttempt = minTime(now.Add(q.backoff(r.Attempts, err)), deadline)
		log.Warn("temporary failure", zap.Error(err), zap.Time("next", r.NextAttempt))
	}
}

// fail marks r failed. The status comes from the error's Diagnostic when
// it is a valid permanent code, else def; an expiry reports def unless
// the Diagnostic names a permanent ExpiryStatus.
func (q *Queue) fail(r *Recipient, err error, def string, expired bool) {
	failRecipient(r, err, def, expired)
}

func failRecipient(r *Recipient, err error, def string, expired bool) {
	r.State = StateFailed
	r.NextAttempt = time.Time{}
	r.LastError = sanitize(err.Error())
	d := diagnosticOf(err)
	if d == nil {
		d = &Diagnostic{}
	}
	switch {
	case expired && validStatus(d.ExpiryStatus) && d.ExpiryStatus[0] == '5':
		d.Status = d.ExpiryStatus
	case expired || !validStatus(d.Status) || d.Status[0] != '5':
		d.Status = def
	}
	r.Diag = d
}

func diagnosticOf(err error) *Diagnostic {
	d, ok := DiagnosticOf(err)
	if !ok {
		return nil
	}
	d.Type, d.Text, d.RemoteMTA = sanitize(d.Type), sanitize(d.Text), sanitize(d.RemoteMTA)
	return &d
}

// backoff is the delay after the n-th attempt failed temporarily:
// RetryInitial doubled per attempt up to RetryMax, times a jitter in
// [0.8, 1.2), capped at RetryMax. A RetryAfter hint replaces it, bounded
// to [min(1s, RetryInitial), RetryMax].
func (q *Queue) backoff(n int, err error) time.Duration {
	if hint, ok := RetryDelay(err); ok {
		return min(max(hint, min(time.Second, q.cfg.RetryInitial)), q.cfg.RetryMax)
	}
	d := q.cfg.RetryInitial
	for i := 1; i < n && d < q.cfg.RetryMax; i++ {
		d *= 2
	}
	d = time.Duration(float64(min(d, q.cfg.RetryMax)) * (0.8 + 0.4*q.cfg.Rand()))
	return min(d, q.cfg.RetryMax)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// validStatus checks an RFC 3463 code: class "." subject "." detail.
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || strings.IndexByte("245", parts[0][0]) < 0 {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// sanitize makes text safe for a header field and a log line: printable
// ASCII only, one line, bounded.
func sanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\r' || c == '\n' || c == '\t':
			c = ' '
		case c < 0x20 || c >= 0x7f:
			c = '?'
		}
		if b.Len() >= maxErrorLen {
			b.WriteString("...")
			break
		}
		b.WriteRune(c)
	}
	return strings.TrimSpace(b.String())
}
