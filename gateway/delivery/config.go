package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Default timeouts, from RFC 5321 §4.5.3.2 where it gives one.
const (
	DefaultConnectTimeout = 30 * time.Second // not in the RFC; Postfix's default
	DefaultCommandTimeout = 5 * time.Minute  // §4.5.3.2.1-3: greeting, MAIL, RCPT
	DefaultDataTimeout    = 3 * time.Minute  // §4.5.3.2.5: each data block
	DefaultFinalTimeout   = 10 * time.Minute // §4.5.3.2.6: reply to the final dot
	DefaultPort           = 25
	DefaultPerDestination = 20
)

// Resolver looks up MX records and host addresses. *net.Resolver implements
// it. A name without records or that does not exist must give a
// *net.DNSError with IsNotFound set; any other error is temporary.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// TLSPolicy returns the TLS requirements for a recipient domain. It is the
// seam for MTA-STS (RFC 8461) and DANE (RFC 7672). An error is temporary.
type TLSPolicy func(ctx context.Context, domain string) (Policy, error)

// Policy is what a [TLSPolicy] requires for one domain. The zero Policy is
// opportunistic STARTTLS.
type Policy struct {
	// Required makes delivery fail (temporarily) unless TLS is established
	// and verified.
	Required bool
	// AllowMX, if set, reports whether an MX host may be used at all.
	AllowMX func(host string) bool
	// Verify, if set, replaces WebPKI verification of the MX host name when
	// Required is set (e.g. DANE TLSA matching).
	Verify func(host string, cs tls.ConnectionState) error
}

// AddressHasher turns an address into what may appear in logs.
type AddressHasher func(addr string) string

// Smarthost relays all mail through one server instead of MX delivery.
type Smarthost struct {
	Addr        string // host:port
	ImplicitTLS bool   // TLS from the first byte (port 465); else STARTTLS
	// Plaintext allows a server without STARTTLS; only without Username.
	Plaintext bool
	Username  string
	Password  string
	// TLSConfig verifies the server (ServerName defaults to Addr's host).
	TLSConfig *tls.Config
}

// Config configures a [Target].
type Config struct {
	Hostname string   // EHLO name; required
	Resolver Resolver // default net.DefaultResolver
	Port     int      // port for MX delivery; default 25
	// Smarthost, if set, receives all mail.
	Smarthost *Smarthost
	// TLSPolicy, if set, decides per domain whether TLS is required.
	TLSPolicy TLSPolicy
	// RootCAs verifies MX certificates when a policy requires TLS; nil
	// means the system roots.
	RootCAs *x509.CertPool
	// AllowPrivateAddrs permits loopback, private and link-local
	// addresses from DNS answers (tests, internal networks).
	AllowPrivateAddrs bool
	// MaxPerDestination bounds concurrent sessions per recipient domain
	// (or to the smarthost); default 20.
	MaxPerDestination int

	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	FinalTimeout   time.Duration

	Logger      *zap.Logger   // default zap.NewNop()
	HashAddress AddressHasher // default: truncated SHA-256
}

func (c Config) withDefaults() (Config, error) {
	if c.Hostname == "" || strings.ContainsAny(c.Hostname, " \r\n") {
		return c, errors.New("delivery: invalid Hostname")
	}
	if err := c.Smarthost.validate(); err != nil {
		return c, err
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	setDefault(&c.Port, DefaultPort)
	setDefault(&c.MaxPerDestination, DefaultPerDestination)
	setDefault(&c.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&c.CommandTimeout, DefaultCommandTimeout)
	setDefault(&c.DataTimeout, DefaultDataTimeout)
	setDefault(&c.FinalTimeout, DefaultFinalTimeout)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.HashAddress == nil {
		c.HashAddress = hashAddress
	}
	return c, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func (s *Smarthost) validate() error {
	if s == nil {
		return nil
	}
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		return fmt.Errorf("delivery: smarthost address %q: %w", s.Addr, err)
	}
	if s.Plaintext && (s.ImplicitTLS || s.Username != "") {
		return errors.New("delivery: smarthost Plaintext excludes ImplicitTLS and AUTH")
	}
	return nil
}

func hashAddress(addr string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(addr)))
	return hex.EncodeToString(sum[:6])
}
