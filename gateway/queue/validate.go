package queue

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Limits on what an envelope may hold, so a damaged file cannot make the
// queue allocate without bound.
const (
	maxRecipients = 10000
	maxBodies     = 10000
	maxAddrLen    = 512
)

// validate checks everything Put, Update and decoding rely on. withSums
// also requires body sizes and hashes (set on stored envelopes).
func (e *Envelope) validate(withSums bool) error {
	if withSums && !validID(e.ID) {
		return fmt.Errorf("%w: bad id %q", ErrInvalid, trunc(e.ID))
	}
	if err := checkAddr("from", e.From, true); err != nil {
		return err
	}
	if err := checkText("envid", e.EnvID); err != nil {
		return err
	}
	if err := e.validateBodies(withSums); err != nil {
		return err
	}
	if len(e.Recipients) == 0 || len(e.Recipients) > maxRecipients {
		return fmt.Errorf("%w: %d recipients", ErrInvalid, len(e.Recipients))
	}
	for i := range e.Recipients {
		if err := e.Recipients[i].validate(len(e.Bodies)); err != nil {
			return fmt.Errorf("recipient %d: %w", i, err)
		}
	}
	return nil
}

func (e *Envelope) validateBodies(withSums bool) error {
	if len(e.Bodies) == 0 || len(e.Bodies) > maxBodies {
		return fmt.Errorf("%w: %d bodies", ErrInvalid, len(e.Bodies))
	}
	for i, b := range e.Bodies {
		if b.Kind != BodyMessage && b.Kind != BodyOpaque {
			return fmt.Errorf("%w: body %d: kind %q", ErrInvalid, i, trunc(string(b.Kind)))
		}
		if !withSums {
			continue
		}
		if sum, err := hex.DecodeString(b.SHA256); err != nil || len(sum) != 32 || b.SHA256 != strings.ToLower(b.SHA256) {
			return fmt.Errorf("%w: body %d: bad sha256", ErrInvalid, i)
		}
		if b.Size < 0 {
			return fmt.Errorf("%w: body %d: size %d", ErrInvalid, i, b.Size)
		}
	}
	return nil
}

func (r *Recipient) validate(nbodies int) error {
	if err := checkAddr("addr", r.Addr, false); err != nil {
		return err
	}
	if r.Body < 0 || r.Body >= nbodies {
		return fmt.Errorf("%w: body index %d of %d", ErrInvalid, r.Body, nbodies)
	}
	switch r.State {
	case StatePending, StateDelivered, StateFailed:
	default:
		return fmt.Errorf("%w: state %q", ErrInvalid, trunc(string(r.State)))
	}
	if r.Attempts < 0 {
		return fmt.Errorf("%w: attempts %d", ErrInvalid, r.Attempts)
	}
	for _, s := range append([]string{r.Route, r.ORCPT}, r.Notify...) {
		if err := checkText("field", s); err != nil {
			return err
		}
	}
	return nil
}

// checkAddr rejects empty (unless allowed), oversized and control-character
// addresses: they end up in DSN header fields and log lines.
func checkAddr(what, a string, emptyOK bool) error {
	if a == "" && !emptyOK {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	if len(a) > maxAddrLen {
		return fmt.Errorf("%w: %s too long", ErrInvalid, what)
	}
	return checkText(what, a)
}

func checkText(what, s string) error {
	for _, c := range []byte(s) {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character in %s", ErrInvalid, what)
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
