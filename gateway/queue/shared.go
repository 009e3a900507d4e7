package queue

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// SharedStore is a [Store] that several gateway nodes share (the NATS
// JetStream spool, gateway/queue/natsstore). A node never loads the whole
// queue: it claims messages, and a message is held by one node at a time
// until that node defers, removes or quarantines it, or dies (then the
// store hands it to another node, whose Update, Remove and Quarantine of
// it win; the dead node's claim is void).
//
// With a SharedStore, [Queue.Run] does not call Load, [Queue.Put] does not
// announce the message locally (every node claims it through the store),
// and a message that is not due is deferred back to the store rather than
// kept in memory. Update, Remove, Quarantine and OpenBody apply to
// messages this node holds; Put to any.
//
// An envelope given to Put with its ID already set keeps that ID, and a
// second Put with the same ID stores nothing and returns nil: the queue
// gives DSNs an ID derived from the message and the recipients they report
// ([DSNID]), so a node that takes over a message whose first node died
// between spooling its DSN and recording that does not send a second one.
type SharedStore interface {
	Store
	// Claim waits (a store-chosen time, about a second) for messages no
	// node holds that are due, and returns up to max of them, now held by
	// this node. It returns an empty slice when there are none.
	Claim(ctx context.Context, max int) ([]*Envelope, error)
	// Defer gives message id back, to be claimed (by any node) at due.
	Defer(ctx context.Context, id string, due time.Time) error
}

// DSNID is the deterministic id of the notice about recipients idx of the
// message id with action (failed, delayed, delivered, relayed): the same
// notice always gets the same id.
func DSNID(id string, action string, idx []int) string {
	var b strings.Builder
	b.WriteString(id)
	b.WriteString("|dsn|")
	b.WriteString(action)
	for _, i := range idx {
		b.WriteByte('|')
		b.WriteString(strconv.Itoa(i))
	}
	sum := sha256.Sum256([]byte(b.String()))
	return strings.ToLower(idEncoding.EncodeToString(sum[:16]))
}

// PrepareEnvelope validates env as [Store].Put must, for n bodies, and
// returns a copy with Received (UTC) and pending states filled in. A
// Store outside this package uses it so every backend accepts the same
// envelopes.
func PrepareEnvelope(env *Envelope, n int) (*Envelope, error) { return prepare(env, n) }

// CheckUpdate reports whether rcpts may replace the recipients of stored
// (same recipients in the same order, valid states), as [Store].Update
// requires.
func CheckUpdate(stored *Envelope, rcpts []Recipient) error {
	if err := sameRecipients(stored.Recipients, rcpts); err != nil {
		return err
	}
	ne := stored.Clone()
	ne.Recipients = cloneRecipients(rcpts)
	return ne.validate(true)
}

// EncodeEnvelope is the JSON form of e the file spool stores.
func EncodeEnvelope(e *Envelope) ([]byte, error) { return encodeEnvelope(e) }

// DecodeEnvelope parses and checks a stored envelope; any problem yields
// an error wrapping [ErrDamaged].
func DecodeEnvelope(data []byte) (*Envelope, error) { return decodeEnvelope(data) }

// ValidID reports whether id has the form [NewID] gives.
func ValidID(id string) bool { return validID(id) }

// claim feeds the dispatcher from a SharedStore: one Claim at a time,
// for as many messages as there are idle workers.
func (d *dispatcher) claim(ctx context.Context, ss SharedStore, n int) {
	d.claiming = true
	go func() {
		envs, err := ss.Claim(ctx, n)
		if err != nil && ctx.Err() == nil {
			d.q.log.Warn("claiming work from the shared spool failed; trying again in a second", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
		select {
		case d.claimed <- envs:
		case <-ctx.Done():
		}
	}()
}

// deferShared hands en back to the shared store if it is not due now; it
// reports whether it did (then en is no longer this node's).
func (d *dispatcher) deferShared(ctx context.Context, en *entry) bool {
	ss, ok := d.q.store.(SharedStore)
	if !ok {
		return false
	}
	due := en.dueAt(d.q.cfg.DelayWarning)
	if !due.After(d.q.cfg.Now()) {
		return false
	}
	pctx, cancel := persistContext(ctx)
	defer cancel()
	if err := ss.Defer(pctx, en.env.ID, due); err != nil {
		// The claim lapses and the store hands it out again: nothing lost.
		d.q.log.Warn("deferring a message to the shared spool failed", zap.String("id", en.env.ID), zap.Error(err))
	}
	return true
}

// release hands every message this node still holds back to the shared
// store at shutdown, so other nodes need not wait for the claims to lapse.
func (d *dispatcher) release() {
	ss, ok := d.q.store.(SharedStore)
	if !ok {
		return
	}
	if d.claiming {
		select {
		case envs := <-d.claimed:
			d.add(context.Background(), envs)
		case <-time.After(5 * time.Second): // the claim ends by itself; its claims lapse
		}
		d.claiming = false
	}
	for id, en := range d.msgs {
		ctx, cancel := persistContext(context.Background())
		if err := ss.Defer(ctx, id, en.dueAt(d.q.cfg.DelayWarning)); err != nil {
			d.q.log.Warn("releasing a message to the shared spool failed; its claim lapses", zap.String("id", id), zap.Error(err))
		}
		cancel()
		delete(d.msgs, id)
	}
}

// CheckedBody wraps r (closed by c) so that reading it to the end returns
// an error wrapping [ErrDamaged] instead of io.EOF unless it matches want's
// size and SHA-256, as [Store].OpenBody requires.
func CheckedBody(r io.Reader, c io.Closer, want Body) io.ReadCloser {
	return &checkedReader{r: r, c: c, want: want, h: sha256.New()}
}

// Operator applies an operator command (`passerelle queue retry|hold|
// release|delete`) to e as the scheduler does (control.go), for a shared
// store, where the command changes the stored state directly rather than
// going through the node that holds the message. It reports whether e
// changed. delete fails the open recipients with 5.0.0; the node that
// next claims the message sends the DSN and removes it.
func Operator(op string, e *Envelope, now time.Time) (bool, error) {
	changed := false
	for i := range e.Recipients {
		r := &e.Recipients[i]
		if r.State != StatePending {
			continue
		}
		switch op {
		case "retry":
			if !r.Held {
				r.NextAttempt, changed = now, true
			}
		case "hold":
			r.Held, changed = true, changed || !r.Held
		case "release":
			if r.Held {
				r.Held, r.NextAttempt, changed = false, now, true
			}
		case "delete":
			r.Held = false
			failRecipient(r, Permanent(errors.New("deleted from the queue by the operator")), "5.0.0", false)
			changed = true
		default:
			return false, fmt.Errorf("queue: unknown operator command %q", op)
		}
	}
	return changed, nil
}
