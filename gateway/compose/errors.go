package compose

import (
	"errors"
	"fmt"
)

// Sentinels returned, wrapped, by Compose and EncryptPGPMIME; match them
// with errors.Is.
var (
	// ErrInvalidInput reports a bad Input field or argument (address,
	// Message-ID, hostname, key).
	ErrInvalidInput = errors.New("compose: invalid input")
	// ErrMalformed reports an embedded message that cannot be parsed:
	// header syntax, multipart structure, transfer encoding.
	ErrMalformed = errors.New("compose: malformed embedded message")
	// ErrTooLarge reports an embedded message over one of the Limits.
	ErrTooLarge = errors.New("compose: embedded message over limits")
	// ErrWeakKey reports a recipient key that may not be encrypted to
	// (RSA under 2048 bits).
	ErrWeakKey = errors.New("compose: weak recipient key")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTooLarge, fmt.Sprintf(format, args...))
}
