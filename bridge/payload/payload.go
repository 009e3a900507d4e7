package payload

import "errors"

// XML namespaces used in a payload.
const (
	NS        = "urn:passerelle:mail:0" // <mail/>, <external/>
	NSOpenPGP = "urn:xmpp:openpgp:0"    // <payload/> (XEP-0373)
	NSClient  = "jabber:client"         // <subject/>, <body/>, <thread/>
)

// Errors returned by Build and Parse, wrapped with context; match them
// with errors.Is.
var (
	ErrMalformed   = errors.New("payload: malformed")
	ErrTooLarge    = errors.New("payload: too large")
	ErrIntegrity   = errors.New("payload: size or sha256 mismatch")
	ErrUnsupported = errors.New("payload: unsupported")
)

// Payload is the content of a <payload/> element.
type Payload struct {
	Subject string // <subject/>, may be empty
	Body    string // <body/>, the text rendition of the mail
	Thread  string // <thread/> (XEP-0201), may be empty
	Mail    *Mail  // <mail/>; nil for a plain chat message
}

// Mail is the <mail xmlns='urn:passerelle:mail:0'/> element. Exactly one
// of Raw and External is set.
type Mail struct {
	// Raw is the complete RFC 5322 message, byte-exact (inline form).
	Raw []byte
	// External points at the message as an encrypted blob (large form).
	External *External
	// MessageID and InReplyTo repeat the mail's Message-ID and first
	// In-Reply-To (without angle brackets) for threading; informational,
	// the message itself is authoritative.
	MessageID string
	InReplyTo string
}

// External is the <external/> form: an AES-256-GCM blob (XEP-0454 scheme)
// fetched from URL. Size and SHA256 describe the decrypted RFC 5322
// message, as they do for the inline form.
type External struct {
	URL    string
	Size   int64
	SHA256 [32]byte
	Key    [KeySize]byte
	IV     [IVSize]byte
}

// Limits bound what Parse accepts. A zero field takes its default.
type Limits struct {
	MaxBytes     int   // the whole XML input; default 4 MiB
	MaxMailBytes int64 // inline or declared external mail size; default 64 MiB
	MaxTextBytes int   // each of subject, body, thread; default 1 MiB
	MaxDepth     int   // element nesting; default 32
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 4 << 20
	}
	if l.MaxMailBytes <= 0 {
		l.MaxMailBytes = 64 << 20
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = 1 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	return l
}
