package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Route names where mail for a recipient goes.
type Route string

// Routes.
const (
	RouteXMPP Route = "xmpp" // a local user who reads mail in an XMPP client
	RoutePeer Route = "peer" // another Passerelle site, over XMPP federation
	RouteSMTP Route = "smtp" // plain SMTP (the reverse path's destination)
)

// Encryption is how strictly mail on a route must be encrypted.
type Encryption string

// Encryption modes.
const (
	EncryptRequired      Encryption = "required"      // no usable key: see NoKey
	EncryptOpportunistic Encryption = "opportunistic" // encrypt when a key is found
	EncryptNone          Encryption = "none"          // never encrypt
)

// XMPPEncryption chooses between the two XMPP end-to-end schemes for a
// recipient who publishes keys for both (BRIEF: Which XMPP encryption).
type XMPPEncryption string

// XMPP encryption schemes.
const (
	XMPPOX          XMPPEncryption = "ox"           // OX (XEP-0373/0374) only
	XMPPOMEMO       XMPPEncryption = "omemo"        // OMEMO 0.3 (XEP-0384) only
	XMPPPreferOX    XMPPEncryption = "prefer-ox"    // OX when an OX key is published, else OMEMO
	XMPPPreferOMEMO XMPPEncryption = "prefer-omemo" // OMEMO when devices are published, else OX
)

// NoKeyAction says what happens to mail for a required-encryption route
// when the recipient has no usable key.
type NoKeyAction string

// NoKey actions.
const (
	NoKeyReject NoKeyAction = "reject" // 550 5.7.1 at RCPT
	NoKeyNotice NoKeyAction = "notice" // deliver with a plaintext notice
)

// ReverseAccess says whether a local user may send mail through the
// reverse path (XMPP to email); it is decided for the sender's address.
type ReverseAccess string

// Reverse access values.
const (
	ReverseAllow ReverseAccess = "allow"
	ReverseDeny  ReverseAccess = "deny" // refused with <forbidden/>
)

// Rule is one level of policy. Nil or empty fields inherit from the level
// above.
type Rule struct {
	Route            Route
	Encryption       Encryption
	XMPPEncryption   XMPPEncryption
	NoKey            NoKeyAction
	ReversePlaintext *bool
	MaxMessageBytes  int64
	Reverse          ReverseAccess
}

// Decision is the effective policy for one address, with the name of the rule
// that set each field.
type Decision struct {
	Address          string
	Route            Route
	Encryption       Encryption
	XMPPEncryption   XMPPEncryption
	NoKey            NoKeyAction
	ReversePlaintext bool
	MaxMessageBytes  int64
	// Reverse: may this (local) address send through the reverse path.
	Reverse ReverseAccess
	// Source maps a field name to the rule that set it: "default",
	// "global", "domain example.org" or "address a@example.org".
	Source map[string]string
}

// rules is one immutable set of rules; a Policy holds the current one.
type rules struct {
	global    Rule
	domains   map[string]Rule
	addresses map[string]Rule
	local     map[string]bool
	toJID     map[string]string     // directory: local address -> bare JID
	toEmail   map[string]string     // and back
	senders   map[string]senderRule // submission user -> addresses they may send as
	users     map[string]bool       // every local address that exists; nil: unknown
}

// Config is the input to New.
type Config struct {
	// LocalDomains are the mail domains this gateway accepts mail for.
	LocalDomains []string
	Global       Rule
	Domains      map[string]Rule // by domain
	Addresses    map[string]Rule // by full address
	// Directory maps local addresses to the bare JIDs that read them, where
	// they differ (by default alice@example.org is the JID alice@example.org).
	Directory map[string]string
	// Senders maps a submission login to the sender addresses it may use
	// (see SendAs); a login not listed may use itself if it is an address.
	Senders map[string][]string
	// Users, if not nil, lists every local address that exists, besides
	// the Directory's: any other local address is unknown (550 5.1.1 at
	// RCPT). nil: the gateway cannot know its users (see Exists).
	Users []string
}

// defaultRule holds the built-in values under every rule: mail goes to an
// XMPP user, encrypted, and is refused when there is no key.
func defaultRule() Rule {
	return Rule{
		Route:            RouteXMPP,
		Encryption:       EncryptRequired,
		XMPPEncryption:   XMPPPreferOX,
		NoKey:            NoKeyReject,
		ReversePlaintext: new(bool),
		MaxMessageBytes:  36 << 20,
		Reverse:          ReverseAllow,
	}
}

// ErrInvalid is wrapped by every validation error from New.
var ErrInvalid = errors.New("policy: invalid rule")

// New validates the rules and returns a Policy. Domain and address keys are
// matched case-insensitively.
func New(c Config) (*Policy, error) {
	p := &rules{global: c.Global, domains: map[string]Rule{}, addresses: map[string]Rule{}, local: map[string]bool{}}
	var errs []error
	if len(c.LocalDomains) == 0 {
		errs = append(errs, fmt.Errorf("%w: no local domains", ErrInvalid))
	}
	for _, d := range c.LocalDomains {
		if d == "" || strings.ContainsAny(d, "@ []") {
			errs = append(errs, fmt.Errorf("%w: local domain %q", ErrInvalid, d))
		}
		p.local[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	errs = append(errs, p.buildDirectory(c.Directory)...)
	errs = append(errs, p.buildSenders(c.Senders)...)
	errs = append(errs, p.buildUsers(c.Users)...)
	errs = append(errs, validate("global", c.Global)...)
	for d, r := range c.Domains {
		errs = append(errs, validate("domain "+d, r)...)
		p.domains[strings.ToLower(d)] = r
	}
	for a, r := range c.Addresses {
		if !strings.Contains(a, "@") {
			errs = append(errs, fmt.Errorf("%w: address rule %q has no @", ErrInvalid, a))
		}
		errs = append(errs, validate("address "+a, r)...)
		p.addresses[strings.ToLower(a)] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return live(p), nil
}

func validate(name string, r Rule) []error {
	var errs []error
	switch r.Route {
	case "", RouteXMPP, RoutePeer, RouteSMTP:
	default:
		errs = append(errs, fmt.Errorf("%w: %s: route %q (want xmpp, peer or smtp)", ErrInvalid, name, r.Route))
	}
	switch r.Encryption {
	case "", EncryptRequired, EncryptOpportunistic, EncryptNone:
	default:
		errs = append(errs, fmt.Errorf("%w: %s: encryption %q (want required, opportunistic or none)", ErrInvalid, name, r.Encryption))
	}
	switch r.XMPPEncryption {
	case "", XMPPOX, XMPPOMEMO, XMPPPreferOX, XMPPPreferOMEMO:
	default:
		errs = append(errs, fmt.Errorf("%w: %s: xmpp_encryption %q (want ox, omemo, prefer-ox or prefer-omemo)", ErrInvalid, name, r.XMPPEncryption))
	}
	switch r.NoKey {
	case "", NoKeyReject, NoKeyNotice:
	default:
		errs = append(errs, fmt.Errorf("%w: %s: no_key %q (want reject or notice)", ErrInvalid, name, r.NoKey))
	}
	switch r.Reverse {
	case "", ReverseAllow, ReverseDeny:
	default:
		errs = append(errs, fmt.Errorf("%w: %s: reverse %q (want allow or deny)", ErrInvalid, name, r.Reverse))
	}
	if r.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: %s: max_message_bytes is negative", ErrInvalid, name))
	}
	return errs
}

// Decide returns the effective policy for addr (an email address). It does
// not check that addr is local: see Locality.
func (p *rules) Decide(addr string) Decision {
	addr = strings.ToLower(addr)
	d := Decision{Address: addr, Source: map[string]string{}}
	d.apply("default", defaultRule())
	d.apply("global", p.global)
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		dom := addr[at+1:]
		if r, ok := p.domains[dom]; ok {
			d.apply("domain "+dom, r)
		}
	}
	if r, ok := p.addresses[addr]; ok {
		d.apply("address "+addr, r)
	}
	return d
}

func (d *Decision) apply(name string, r Rule) {
	if r.Route != "" {
		d.Route, d.Source["route"] = r.Route, name
	}
	if r.Encryption != "" {
		d.Encryption, d.Source["encryption"] = r.Encryption, name
	}
	if r.XMPPEncryption != "" {
		d.XMPPEncryption, d.Source["xmpp_encryption"] = r.XMPPEncryption, name
	}
	if r.NoKey != "" {
		d.NoKey, d.Source["no_key"] = r.NoKey, name
	}
	if r.ReversePlaintext != nil {
		d.ReversePlaintext, d.Source["reverse_plaintext"] = *r.ReversePlaintext, name
	}
	if r.MaxMessageBytes != 0 {
		d.MaxMessageBytes, d.Source["max_message_bytes"] = r.MaxMessageBytes, name
	}
	if r.Reverse != "" {
		d.Reverse, d.Source["reverse"] = r.Reverse, name
	}
}

// Explain renders the decision for an operator, one field a line with the
// rule that set it.
func (d Decision) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "address:           %s\n", d.Address)
	fmt.Fprintf(&b, "route:             %-14s (%s)\n", d.Route, d.Source["route"])
	fmt.Fprintf(&b, "encryption:        %-14s (%s)\n", d.Encryption, d.Source["encryption"])
	fmt.Fprintf(&b, "xmpp_encryption:   %-14s (%s)\n", d.XMPPEncryption, d.Source["xmpp_encryption"])
	if d.Encryption != EncryptNone {
		fmt.Fprintf(&b, "  tried in order:  %s (at RCPT: the first the recipient publishes a key for is used)\n",
			strings.Join(d.Schemes(), ", then "))
	}
	fmt.Fprintf(&b, "no_key:            %-14s (%s)\n", d.NoKey, d.Source["no_key"])
	fmt.Fprintf(&b, "reverse_plaintext: %-14t (%s)\n", d.ReversePlaintext, d.Source["reverse_plaintext"])
	fmt.Fprintf(&b, "max_message_bytes: %-14d (%s)\n", d.MaxMessageBytes, d.Source["max_message_bytes"])
	fmt.Fprintf(&b, "reverse:           %-14s (%s)\n", d.Reverse, d.Source["reverse"])
	return b.String()
}

// Scheme names, in the order Schemes returns them.
const (
	SchemeOX    = "ox"
	SchemeOMEMO = "omemo"
)

// Schemes lists the XMPP encryption schemes to try for the recipient, in
// order: the first the recipient publishes keys for is used.
func (d Decision) Schemes() []string {
	switch d.XMPPEncryption {
	case XMPPOX:
		return []string{SchemeOX}
	case XMPPOMEMO:
		return []string{SchemeOMEMO}
	case XMPPPreferOMEMO:
		return []string{SchemeOMEMO, SchemeOX}
	}
	return []string{SchemeOX, SchemeOMEMO} // prefer-ox, the default
}

// IsLocal reports whether addr's domain is one of the local domains. The
// address must already be syntactically valid (the SMTP layer checks that).
func (p *rules) IsLocal(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	return p.local[strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))]
}
