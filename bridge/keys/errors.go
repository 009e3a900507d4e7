package keys

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Test them with errors.Is.
var (
	ErrNoKey            = errors.New("keys: no key")
	ErrRevoked          = errors.New("keys: key revoked")
	ErrExpired          = errors.New("keys: key expired")
	ErrNoEncryptionKey  = errors.New("keys: no usable encryption subkey")
	ErrWeakKey          = errors.New("keys: key too weak")
	ErrInvalidKey       = errors.New("keys: invalid key")
	ErrTooLarge         = errors.New("keys: key data too large")
	ErrTooManyKeys      = errors.New("keys: too many keys")
	ErrAddressMismatch  = errors.New("keys: key does not carry the address")
	ErrInvalidAddress   = errors.New("keys: invalid address")
	ErrNoDomainKey      = errors.New("keys: domain key not initialised")
	ErrNoPuppet         = errors.New("keys: puppet key not made yet")
	ErrInvalidAutocrypt = errors.New("keys: invalid autocrypt header")
)

// TemporaryError is a lookup failure that may succeed later (network
// errors, timeouts, 5xx answers). It is never cached.
type TemporaryError struct {
	Source string
	Err    error
}

func (e *TemporaryError) Error() string {
	return fmt.Sprintf("keys: temporary failure in %s: %v", e.Source, e.Err)
}

// Unwrap returns the underlying error.
func (e *TemporaryError) Unwrap() error { return e.Err }

// Temporary reports true.
func (e *TemporaryError) Temporary() bool { return true }

// IsTemporary reports whether err is a temporary lookup failure: a
// *TemporaryError, an error with a Temporary() bool method returning true,
// or a context deadline.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}
