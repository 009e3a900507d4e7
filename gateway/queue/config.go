package queue

import (
	"errors"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/addrhash"
)

// Defaults, after RFC 5321 §4.5.4.1: retry at intervals of at least 30
// minutes and give up after four to five days. A target that knows better
// (a peer that is only reconnecting) asks for an early retry with
// [RetryAfter].
const (
	DefaultWorkers        = 4
	DefaultRetryInitial   = 30 * time.Minute
	DefaultRetryMax       = 4 * time.Hour
	DefaultLifetime       = 5 * 24 * time.Hour
	DefaultAttemptTimeout = 10 * time.Minute
	DefaultShutdownGrace  = 30 * time.Second
)

// BounceRouter routes a DSN to the reverse-path of the failed message. ok
// is false when the address cannot be routed.
type BounceRouter func(addr string) (route string, params map[string]string, ok bool)

// Config configures a [Queue]. Zero fields take the defaults above.
type Config struct {
	Store   Store             // required
	Targets map[string]Target // by route name; an unknown route fails permanently

	Workers        int           // messages in delivery at once
	RetryInitial   time.Duration // delay after the first temporary failure
	RetryMax       time.Duration // the backoff doubles up to this
	Lifetime       time.Duration // from arrival until a pending recipient expires (4.4.7)
	AttemptTimeout time.Duration // bound on one Deliver call
	ShutdownGrace  time.Duration // in-flight deliveries get this long after Run's ctx ends
	// DelayWarning: a recipient still pending this long after arrival gets
	// its sender one delay notice (RFC 3464 Action: delayed). 0: none.
	DelayWarning time.Duration

	Now  func() time.Time // clock; default time.Now
	Rand func() float64   // jitter source in [0,1); default math/rand/v2.Float64

	Log      *zap.Logger         // named "queue"
	HashAddr func(string) string // how addresses appear in logs; default a randomly keyed [addrhash.Random]

	DSN         DSNConfig
	BounceRoute BounceRouter // nil: DSNs are spooled and quarantined for the operator

	Metrics Metrics // delivery attempts; nil: none
}

// DSNConfig describes the reporting MTA in DSNs (RFC 3464 §2.2.2).
type DSNConfig struct {
	ReportingMTA string // host name, e.g. "mail.example.org" (required)
	Postmaster   string // From: of DSNs; default "postmaster@" + ReportingMTA
}

func (c *Config) setDefaults() error {
	if c.Store == nil {
		return errors.New("queue: config: no store")
	}
	if c.DSN.ReportingMTA == "" || checkText("reporting mta", c.DSN.ReportingMTA) != nil {
		return errors.New("queue: config: DSN.ReportingMTA must be a host name")
	}
	if c.DSN.Postmaster == "" {
		c.DSN.Postmaster = "postmaster@" + c.DSN.ReportingMTA
	}
	setDefault(&c.Workers, DefaultWorkers)
	setDefault(&c.RetryInitial, DefaultRetryInitial)
	setDefault(&c.RetryMax, DefaultRetryMax)
	setDefault(&c.Lifetime, DefaultLifetime)
	setDefault(&c.AttemptTimeout, DefaultAttemptTimeout)
	setDefault(&c.ShutdownGrace, DefaultShutdownGrace)
	c.RetryMax = max(c.RetryMax, c.RetryInitial)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	if c.HashAddr == nil {
		c.HashAddr = addrhash.Random() // keyed; cmd passes the install-keyed one
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
