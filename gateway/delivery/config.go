package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"passerelle/gateway/dane"
	"strings"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/addrhash"
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
// opportunistic STARTTLS (TLSMay).
type Policy struct {
	// Level is the TLS security level, in Postfix's vocabulary.
	Level TLSLevel
	// AllowMX, if set, reports whether an MX host may be used at all.
	AllowMX func(host string) bool
	// Verify, if set, replaces WebPKI verification of the MX host name at
	// TLSVerify (e.g. DANE TLSA matching, an MTA-STS MX pattern check).
	Verify func(host string, cs tls.ConnectionState) error
}

// TLSLevel is a TLS security level for MX delivery, named after Postfix's
// smtp_tls_security_level values.
type TLSLevel int

const (
	// TLSMay uses STARTTLS when offered, unverified, and retries the host
	// in plaintext if the handshake fails (RFC 3207 §4.1 leaves it to
	// local policy). It defeats passive observers only.
	TLSMay TLSLevel = iota
	// TLSNone never starts TLS.
	TLSNone
	// TLSEncrypt requires TLS (1.2 or later) but does not check the
	// certificate: no plaintext fallback, a missing STARTTLS or a failed
	// handshake is a temporary failure.
	TLSEncrypt
	// TLSVerify is TLSEncrypt with the certificate verified for the MX
	// host name (WebPKI, Config.RootCAs) or by Policy.Verify.
	TLSVerify
)

var tlsLevelNames = [...]string{TLSMay: "may", TLSNone: "none", TLSEncrypt: "encrypt", TLSVerify: "verify"}

func (l TLSLevel) String() string {
	if l < 0 || int(l) >= len(tlsLevelNames) {
		return fmt.Sprintf("TLSLevel(%d)", int(l))
	}
	return tlsLevelNames[l]
}

// ParseTLSLevel parses a Postfix level name (none, may, encrypt, verify);
// "opportunistic" is may and "required" is encrypt.
func ParseTLSLevel(s string) (TLSLevel, error) {
	switch s {
	case "opportunistic":
		return TLSMay, nil
	case "required":
		return TLSEncrypt, nil
	}
	for i, n := range tlsLevelNames {
		if n == s {
			return TLSLevel(i), nil
		}
	}
	return 0, fmt.Errorf("delivery: TLS level %q (want none, may, encrypt or verify)", s)
}

// required reports whether the level refuses to deliver without TLS.
func (l TLSLevel) required() bool { return l == TLSEncrypt || l == TLSVerify }

// DANE looks up what RFC 7672 needs (*dane.Resolver).
type DANE interface {
	// SecureMX reports whether domain's MX answer is DNSSEC-validated.
	SecureMX(ctx context.Context, domain string) (bool, error)
	// TLSA returns the TLSA records of host's SMTP service on port and
	// whether the answer is validated; an error means the lookup failed.
	TLSA(ctx context.Context, host string, port int) ([]dane.Record, bool, error)
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
	// DANE, if set, authenticates MX hosts by their DNSSEC-signed TLSA
	// records (RFC 7672; gateway/dane): for domains whose MX answer is
	// secure, it takes precedence over TLSPolicy.
	DANE DANE
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
	// Metrics counts mail delivered without TLS; nil counts nothing.
	Metrics Metrics
}

// Metrics receives the delivery counts; defined here, by its consumer
// (cmd/passerelle implements it with Prometheus).
type Metrics interface {
	// PlaintextDelivery counts a message a server accepted over a
	// connection without TLS. reason: "starttls_failed" (opportunistic
	// TLS fell back after a failed handshake, as mox's
	// plaintext_fallback_total), "no_starttls" (the server offered none),
	// "tls_none" (TLS is off for that destination).
	PlaintextDelivery(reason string)
}

type nopMetrics struct{}

func (nopMetrics) PlaintextDelivery(string) {}

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
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	if c.HashAddress == nil {
		c.HashAddress = addrhash.Random() // keyed; cmd passes the install-keyed one
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
