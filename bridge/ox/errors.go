package ox

import "errors"

// Errors returned by Seal and Open. Test them with errors.Is.
var (
	ErrInvalidPayload    = errors.New("ox: payload is not well-formed XML")
	ErrNotEncrypted      = errors.New("ox: message is not encrypted")
	ErrNotProtected      = errors.New("ox: message is not integrity protected")
	ErrNoDecryptionKey   = errors.New("ox: message is not encrypted to our keys")
	ErrUnsigned          = errors.New("ox: message is not signed")
	ErrBadSignature      = errors.New("ox: bad signature")
	ErrWrongSigner       = errors.New("ox: signed by an unexpected key")
	ErrTooLarge          = errors.New("ox: message too large")
	ErrMalformed         = errors.New("ox: malformed signcrypt element")
	ErrWrongRecipient    = errors.New("ox: signcrypt is addressed to someone else")
	ErrBadTime           = errors.New("ox: signcrypt time out of range")
	ErrCorrupt           = errors.New("ox: corrupt or tampered message")
	ErrInvalidConfig     = errors.New("ox: invalid configuration")
	ErrInvalidOpenPGPElt = errors.New("ox: invalid openpgp element")
)
