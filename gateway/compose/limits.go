package compose

// Default limits applied to every zero field of [Limits].
const (
	DefaultMaxEmbeddedBytes = 64 << 20 // a 25 MB mail, base64-inflated, fits
	DefaultMaxHeaderBytes   = 100 << 10
	DefaultMaxHeaderFields  = 500
	DefaultMaxDepth         = 20
	DefaultMaxParts         = 1000
)

// Limits bound the work done on an embedded message. A zero field takes
// its default.
type Limits struct {
	// MaxEmbeddedBytes bounds len(Input.Embedded).
	MaxEmbeddedBytes int
	// MaxHeaderBytes bounds each header block, the message's and every
	// part's.
	MaxHeaderBytes int
	// MaxHeaderFields bounds the number of fields in each header block.
	MaxHeaderFields int
	// MaxDepth is the deepest multipart nesting accepted; the message
	// itself is at depth 0.
	MaxDepth int
	// MaxParts bounds the number of entities, the message included.
	MaxParts int
}

func (l Limits) withDefaults() Limits {
	l.MaxEmbeddedBytes = orDefault(l.MaxEmbeddedBytes, DefaultMaxEmbeddedBytes)
	l.MaxHeaderBytes = orDefault(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	l.MaxHeaderFields = orDefault(l.MaxHeaderFields, DefaultMaxHeaderFields)
	l.MaxDepth = orDefault(l.MaxDepth, DefaultMaxDepth)
	l.MaxParts = orDefault(l.MaxParts, DefaultMaxParts)
	return l
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
