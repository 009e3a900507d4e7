package mime

import "errors"

// Sentinels identifying why a message was refused. They are the Kind of an
// [*Error] and match with errors.Is.
var (
	// ErrMalformed reports a syntax error in the MIME structure or in a
	// transfer encoding (bad base64, unterminated multipart, ...).
	ErrMalformed = errors.New("mime: malformed message")
	// ErrTooDeep reports multipart nesting beyond Limits.MaxDepth.
	ErrTooDeep = errors.New("mime: nesting too deep")
	// ErrTooManyParts reports more than Limits.MaxParts entities.
	ErrTooManyParts = errors.New("mime: too many parts")
	// ErrHeaderTooBig reports a header block over Limits.MaxHeaderBytes.
	ErrHeaderTooBig = errors.New("mime: header too big")
)

// Error is the only error type Parse returns.
type Error struct {
	// Part is the IMAP-style section number of the faulty entity
	// ("1.2" is the second part of the first part); empty for the
	// top-level entity.
	Part string
	// Kind is ErrMalformed, ErrTooDeep, ErrTooManyParts or ErrHeaderTooBig.
	Kind error
	// Err is the underlying cause; it may be nil.
	Err error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Part != "" {
		s += " in part " + e.Part
	}
	if e.Err != nil {
		s += ": " + cutUTF8(cleanLine(e.Err.Error()), maxCauseLen)
	}
	return s
}

// maxCauseLen bounds the text of a cause, which may quote the input, so
// that a log line stays short.
const maxCauseLen = 200

// Unwrap lets errors.Is match both Kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newError(part string, kind, cause error) *Error {
	return &Error{Part: part, Kind: kind, Err: cause}
}
