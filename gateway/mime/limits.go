package mime

// Default limits applied by Parse to every zero field of [Limits].
const (
	DefaultMaxDepth       = 20
	DefaultMaxParts       = 1000
	DefaultMaxHeaderBytes = 100 << 10 // as Postfix's header_size_limit
	DefaultMaxTextBytes   = 1 << 20
)

// TruncationMarker ends a text rendition that was cut at MaxTextBytes.
const TruncationMarker = "\n[… message truncated]"

// Limits bound the work Parse does. A zero field takes its default.
type Limits struct {
	// MaxDepth is the deepest multipart nesting accepted; the top-level
	// entity is at depth 0. Deeper gives ErrTooDeep.
	MaxDepth int
	// MaxParts is the number of entities (the message itself included)
	// accepted. More gives ErrTooManyParts.
	MaxParts int
	// MaxHeaderBytes bounds each header block, the top-level one and
	// every part's. Larger gives ErrHeaderTooBig.
	MaxHeaderBytes int
	// MaxTextBytes caps Message.Text; longer text is cut at a UTF-8
	// boundary and ends with TruncationMarker.
	MaxTextBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	return l
}
