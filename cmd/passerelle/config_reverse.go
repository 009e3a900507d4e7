package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"passerelle/gateway/dkim"
)

// ReverseConfig tunes the reverse path (XMPP users writing to email
// correspondents through puppet JIDs).
type ReverseConfig struct {
	Workers              int     `toml:"workers"`                 // messages processed at once
	RatePerMinute        float64 `toml:"rate_per_minute"`         // per sender (bare JID), sustained
	Burst                int     `toml:"burst"`                   // per sender, at once
	MaxRecipientsPerHour int     `toml:"max_recipients_per_hour"` // distinct recipients per sender
	// ThreadsFile maps XMPP threads to the forwarded mails' Message-IDs;
	// default <spool.dir>/threads.log.
	ThreadsFile string `toml:"threads_file"`
}

// DeliveryConfig is outbound SMTP (reverse-path mail and DSNs to remote
// senders).
type DeliveryConfig struct {
	Port         int  `toml:"port"` // MX port; 25 except in tests
	AllowPrivate bool `toml:"allow_private"`
	// DNSServer, if set, is the host:port of the DNS server MX lookups
	// use instead of the system resolver.
	DNSServer         string          `toml:"dns_server"`
	MaxPerDestination int             `toml:"max_per_destination"`
	Smarthost         SmarthostConfig `toml:"smarthost"`
}

// SmarthostConfig relays all outbound mail through one server.
type SmarthostConfig struct {
	Addr     string `toml:"addr"`     // host:port; empty: MX delivery
	TLS      string `toml:"tls"`      // starttls (required), implicit, or none
	Username string `toml:"username"` // AUTH PLAIN when set
	Password Secret `toml:"password"`
}

// DKIMConfig is one DKIM signing key (RFC 6376) for a sender domain.
type DKIMConfig struct {
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	KeyFile  string `toml:"key_file"` // PEM; `passerelle keys dkim` makes it
}

// errDKIMKeyMissing marks a configured DKIM key file that does not exist
// yet; `passerelle keys dkim` creates it.
var errDKIMKeyMissing = errors.New("does not exist (run `passerelle keys dkim -c FILE DOMAIN`)")

func (c *Config) validateReverse() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	r := c.Reverse
	if r.Workers <= 0 {
		add("reverse.workers: must be positive")
	}
	if r.RatePerMinute <= 0 {
		add("reverse.rate_per_minute: must be positive")
	}
	if r.Burst <= 0 {
		add("reverse.burst: must be positive")
	}
	if r.MaxRecipientsPerHour <= 0 {
		add("reverse.max_recipients_per_hour: must be positive")
	}
	errs = append(errs, c.Delivery.validate()...)
	seen := map[string]bool{}
	for i, d := range c.DKIM {
		key := fmt.Sprintf("dkim[%d]", i)
		switch {
		case d.Domain == "" || strings.ContainsAny(d.Domain, "@ "):
			add("%s.domain: %q is not a domain", key, d.Domain)
		case seen[strings.ToLower(d.Domain)+"/"+d.Selector]:
			add("%s: domain %s and selector %s given twice", key, d.Domain, d.Selector)
		}
		seen[strings.ToLower(d.Domain)+"/"+d.Selector] = true
		if d.Selector == "" || strings.ContainsAny(d.Selector, " ;@") {
			add("%s.selector: %q is not a selector", key, d.Selector)
		}
		if err := checkDKIMKey(d.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("%s.key_file: %w", key, err))
		}
	}
	return errs
}

func checkDKIMKey(path string) error {
	if path == "" {
		return errors.New("required")
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return fmt.Errorf("%s %w", path, errDKIMKeyMissing)
	}
	_, err := dkim.LoadKeyFile(path)
	return err
}

func (d DeliveryConfig) validate() []error {
	var errs []error
	if d.Port <= 0 || d.Port > 65535 {
		errs = append(errs, fmt.Errorf("delivery.port: %d is not a port", d.Port))
	}
	if d.MaxPerDestination <= 0 {
		errs = append(errs, errors.New("delivery.max_per_destination: must be positive"))
	}
	if err := checkAddr("delivery.dns_server", d.DNSServer, false); err != nil {
		errs = append(errs, err)
	}
	s := d.Smarthost
	if s.Addr == "" {
		if s.Username != "" || s.Password.IsSet() {
			errs = append(errs, errors.New("delivery.smarthost.addr: required with a username or password"))
		}
		return errs
	}
	if err := checkAddr("delivery.smarthost.addr", s.Addr, true); err != nil {
		errs = append(errs, err)
	}
	switch s.TLS {
	case "starttls", "implicit":
	case "none":
		if s.Username != "" {
			errs = append(errs, errors.New("delivery.smarthost.tls: \"none\" would send the password in the clear"))
		}
	default:
		errs = append(errs, fmt.Errorf("delivery.smarthost.tls: %q (want starttls, implicit or none)", s.TLS))
	}
	if s.Username != "" {
		if _, err := s.Password.Resolve(); err != nil {
			errs = append(errs, fmt.Errorf("delivery.smarthost.password: %w", err))
		}
	}
	return errs
}
