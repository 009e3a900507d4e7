package peer

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peerrec"
)

// RouteName is the queue route of peer transfers.
const RouteName = "peer"

// Record is what a domain's _passerelle record says (bridge/peerrec).
type Record struct {
	JID           string         // the component that receives and sends the domain's mail
	Fingerprint   string         // hex fingerprint of its domain key
	Strict        bool           // policy=strict: never SMTP for this domain
	TTL           time.Duration  // how long the record may be cached
	Authenticated bool           // the DNS answer had the AD bit
	Published     peerrec.Record // as parsed, for the trust store
}

// Records looks up a domain's record. found is false when the domain
// publishes none; a lookup that may succeed later returns an error
// wrapping ErrTemporary.
type Records interface {
	Lookup(ctx context.Context, domain string) (rec Record, found bool, err error)
}

// Verdict is a trust decision.
type Verdict int

// Verdicts.
const (
	Accept Verdict = iota // use the key
	Hold                  // temporary: e.g. the key changed; the operator decides (passerelle peers)
	Refuse                // permanent, with a reason
)

// Trust decides whether a domain's key may be used (bridge/peertrust:
// pinned, DNSSEC or first use, with the durable pin store).
type Trust interface {
	Check(ctx context.Context, domain string, rec Record, served []byte) (Verdict, string, error)
}

// IQer sends an IQ and returns the result's children (bridge/xmpp.Component).
type IQer interface {
	IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error)
}

// Errors of discovery, wrapped with context.
var (
	ErrTemporary = errors.New("peer: temporary failure")
	ErrNoPeer    = errors.New("peer: domain publishes no gateway record")
	ErrHeld      = errors.New("peer: held")
	ErrRefused   = errors.New("peer: refused")
	// ErrSMTPAllowed is wrapped, beside one of the errors above, when the
	// domain's record was found and says policy=mixed: its gateway cannot
	// be used now, but the domain allows mail over SMTP.
	ErrSMTPAllowed = errors.New("peer: the domain allows SMTP (policy=mixed)")
)

// Fingerprint is the upper-case hex fingerprint of e's primary key.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

func sameFingerprint(a, b string) bool { return a != "" && strings.EqualFold(a, b) }
