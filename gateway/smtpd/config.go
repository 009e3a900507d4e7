package smtpd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/addrhash"
)

// Mode selects how a Server treats its clients.
type Mode int

const (
	// ModeMX accepts unauthenticated mail for the recipients the Router
	// accepts (port 25). STARTTLS is offered when Config.TLS is set.
	ModeMX Mode = iota
	// ModeSubmission requires STARTTLS and then AUTH before MAIL (port 587).
	ModeSubmission
)

func (m Mode) String() string {
	if m == ModeSubmission {
		return "submission"
	}
	return "mx"
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxLineLength is RFC 5321 §4.5.3.1.4's command line limit;
	// DefaultMaxDataLineLength is §4.5.3.1.6's text line limit.
	DefaultMaxLineLength     = 512
	DefaultMaxDataLineLength = 1000
	DefaultMaxRecipients     = 100
	DefaultMaxMessageBytes   = 40 << 20
	DefaultReadTimeout       = 5 * time.Minute // RFC 5321 §4.5.3.2.7
	DefaultWriteTimeout      = time.Minute
	DefaultMaxConns          = 1000
	DefaultMaxConnsPerIP     = 20
	DefaultMaxBadCommands    = 5
	DefaultMaxAuthFailures   = 3
	DefaultAuthFailureDelay  = time.Second
)

// Config configures a Server. Zero limits take the defaults above.
type Config struct {
	Hostname string // announced in the greeting and Received; required
	Mode     Mode
	// TLS enables STARTTLS; required in ModeSubmission. Use GetCertificate
	// so certificates can be reloaded without a restart.
	TLS *tls.Config

	Router        Router        // required
	Sink          Sink          // required
	Authenticator Authenticator // required in ModeSubmission

	// MaxLineLength bounds a command line incl. CRLF (min 512); MAIL and
	// RCPT get the extensions' allowances on top (see commandLimit). A
	// longer line gets "500 5.5.2 line too long" and the connection closes.
	MaxLineLength int
	// MaxDataLineLength bounds a text line of DATA incl. CRLF (min 1000);
	// a message with a longer line is refused at end of DATA (554 5.6.0).
	MaxDataLineLength int
	MaxRecipients     int           // per transaction; min 100 (RFC 5321 §4.5.3.1.8)
	MaxMessageBytes   int64         // advertised as SIZE
	ReadTimeout       time.Duration // idle time per read, DATA included
	WriteTimeout      time.Duration
	MaxConns          int
	MaxConnsPerIP     int // IPv4 address or IPv6 /64
	MaxBadCommands    int // 500-504 replies before 421 and close
	MaxAuthFailures   int // failed AUTH attempts before 421 and close
	AuthFailureDelay  time.Duration
	// GreetDelay holds the greeting back and refuses clients that talk
	// before it. 0 disables the check; 1-2s is a sensible production value.
	GreetDelay time.Duration
	// DataBudget bounds the memory DATA holds across every Server sharing
	// it (give the MX and submission listeners the same one); nil: a
	// private budget of DefaultDataMemoryBudget. It must hold at least
	// DataMemoryFactor × MaxMessageBytes, or no maximal message fits.
	DataBudget *Budget
	// EnableDSN advertises DSN (RFC 3461); the queue must then honour
	// RET, ENVID, NOTIFY and ORCPT.
	EnableDSN bool

	// Metrics counts connections, transactions and replies; nil: none.
	Metrics Metrics

	Logger *zap.Logger
	// AddressHasher hides addresses in logs unless debug logging is on.
	// Default: a randomly keyed HMAC (addrhash.Random); never unsalted.
	AddressHasher func(string) string
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	setDefault(&cfg.MaxLineLength, DefaultMaxLineLength)
	setDefault(&cfg.MaxDataLineLength, DefaultMaxDataLineLength)
	setDefault(&cfg.MaxRecipients, DefaultMaxRecipients)
	setDefault(&cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&cfg.ReadTimeout, DefaultReadTimeout)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDefault(&cfg.MaxConns, DefaultMaxConns)
	setDefault(&cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setDefault(&cfg.MaxBadCommands, DefaultMaxBadCommands)
	setDefault(&cfg.MaxAuthFailures, DefaultMaxAuthFailures)
	setDefault(&cfg.AuthFailureDelay, DefaultAuthFailureDelay)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	if cfg.AddressHasher == nil {
		cfg.AddressHasher = addrhash.Random() // keyed; cmd passes the install-keyed one
	}
	return cfg, cfg.validate()
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func (c *Config) validate() error {
	var errs []error
	check := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New("smtpd: "+msg))
		}
	}
	check(c.Hostname == "" || strings.ContainsAny(c.Hostname, " \r\n"), "invalid Hostname")
	check(c.Router == nil, "Router is required")
	check(c.Sink == nil, "Sink is required")
	check(c.Mode != ModeMX && c.Mode != ModeSubmission, fmt.Sprintf("unknown mode %d", c.Mode))
	check(c.Mode == ModeSubmission && c.TLS == nil, "submission needs TLS")
	check(c.DataBudget != nil && c.DataBudget.Limit() < DataMemoryFactor*c.MaxMessageBytes,
		fmt.Sprintf("DataBudget must hold at least %d × MaxMessageBytes", DataMemoryFactor))
	check(c.Mode == ModeSubmission && c.Authenticator == nil, "submission needs an Authenticator")
	check(c.MaxLineLength < 512, "MaxLineLength below 512")
	check(c.MaxDataLineLength < 1000, "MaxDataLineLength below 1000")
	check(c.MaxRecipients < 100, "MaxRecipients below 100")
	check(c.MaxMessageBytes < 0 || c.MaxMessageBytes > 1<<32-1, "MaxMessageBytes out of range")
	check(c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.GreetDelay < 0 || c.AuthFailureDelay < 0, "negative duration")
	check(c.MaxConns < 0 || c.MaxConnsPerIP < 0 || c.MaxBadCommands < 0 || c.MaxAuthFailures < 0, "negative limit")
	return errors.Join(errs...)
}
