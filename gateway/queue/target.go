package queue

import (
	"context"
	"errors"
	"io"
	"time"
)

// Target delivers one recipient's copy of a message. The queue defines it;
// gateway/delivery (SMTP) and the XMPP bridge implement it and are
// registered by route name in [Config].Targets.
//
// Deliver returns nil only once the next hop has taken responsibility for
// the message. An error is temporary unless marked with [Permanent]; it may
// carry a [RetryAfter] hint and a [Diagnostic] for the DSN. Error texts end
// up in logs and DSNs, so they must never contain message content.
type Target interface {
	Deliver(ctx context.Context, d *Delivery) error
}

// TargetFunc adapts a function to [Target].
type TargetFunc func(ctx context.Context, d *Delivery) error

// Deliver calls f.
func (f TargetFunc) Deliver(ctx context.Context, d *Delivery) error { return f(ctx, d) }

// Delivery is one delivery attempt for one recipient. Targets must not keep
// it after Deliver returns.
type Delivery struct {
	ID       string    // message id
	From     string    // RFC 5321 reverse-path; "" is the null sender
	Received time.Time // arrival time
	IsDSN    bool      // the message is a delivery status notification
	EnvID    string    // RFC 3461 ENVID, if any
	// Recipient is a copy of the recipient: Addr, Route, Params (e.g. the
	// JID), ORCPT, Notify and Attempts so far.
	Recipient Recipient
	// Body describes the recipient's body: Kind (plain RFC 5322 or opaque
	// ciphertext) and Size.
	Body Body
	// Open opens the recipient's body. Reading it to the end returns an
	// error wrapping ErrDamaged instead of io.EOF if the stored body is
	// damaged; a target should return that error as it is.
	Open func(ctx context.Context) (io.ReadCloser, error)

	// PassedOn is set by a Target whose next hop accepted the message with
	// its RFC 3461 parameters: that hop now owes the sender any success
	// notice (RFC 3461 §4.2), so the queue sends none.
	PassedOn bool
}

// Relayer is implemented by a Target that hands mail to another MTA
// instead of delivering it: its success notices say "relayed" (RFC 3464
// §2.3.3) rather than "delivered".
type Relayer interface {
	Relays() bool
}

// OpenBody opens the recipient's body (see Open).
func (d *Delivery) OpenBody(ctx context.Context) (io.ReadCloser, error) {
	if d.Open == nil {
		return nil, errors.New("queue: delivery has no body")
	}
	return d.Open(ctx)
}
