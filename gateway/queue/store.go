package queue

import (
	"context"
	"io"
)

// Store is a durable queue of messages. [FileStore] keeps it on local disk; a
// shared backend (NATS JetStream) can implement the same contract so several
// nodes share the work.
//
// Callers serialise operations on one message id; operations on different
// ids may run concurrently.
type Store interface {
	// Put stores env and its bodies (one reader per env.Bodies entry) and
	// returns nil only once both are durable. It assigns env.ID, sets
	// env.Received if zero, fills each Body's Size and SHA256 and sets
	// empty recipient states to pending. On error nothing is stored and the
	// error wraps ErrSpoolFull, ErrTemporary or ErrInvalid.
	Put(ctx context.Context, env *Envelope, bodies ...io.Reader) error
	// Load returns every stored message. Entries that fail their checks
	// are quarantined and left out.
	Load(ctx context.Context) ([]*Envelope, error)
	// Update durably replaces the per-recipient state of message id. rcpts
	// must list the same recipients in the same order.
	Update(ctx context.Context, id string, rcpts []Recipient) error
	// OpenBody opens body n of message id. Reading it to the end returns
	// an error wrapping ErrDamaged instead of io.EOF if the body does not
	// match its recorded size and SHA-256.
	OpenBody(ctx context.Context, id string, n int) (io.ReadCloser, error)
	// Remove deletes a finished message.
	Remove(ctx context.Context, id string) error
	// Quarantine sets a message aside for the operator with a reason; it
	// is never delivered or deleted by the queue.
	Quarantine(ctx context.Context, id, reason string) error
}

// Damaged reports an entry moved to quarantine.
type Damaged struct {
	ID     string // message id, or the damaged file's name
	Reason string
	// Envelope is the entry's envelope when it could still be read (a
	// damaged body), so [Queue.NotifyDamaged] can tell the sender; else nil.
	Envelope *Envelope
	// Quarantined is set by a shared store's listing: the entry is in
	// quarantine already (the file spool's Snapshot lists entries its
	// next Recover will quarantine).
	Quarantined bool
}
