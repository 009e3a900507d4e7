package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/idna"

	"passerelle/gateway/delivery"
	"passerelle/gateway/dkim"
)

// ReverseConfig tunes the reverse path (XMPP users writing to email
// correspondents through puppet JIDs).
type ReverseConfig struct {
	Workers              int     `toml:"workers"`                 // messages processed at once
	RatePerMinute        float64 `toml:"rate_per_minute"`         // per sender (bare JID), sustained
	Burst                int     `toml:"burst"`                   // per sender, at once
	MaxRecipientsPerHour int     `toml:"max_recipients_per_hour"` // distinct recipients per sender
	// DownloadTimeout bounds the download of a mail a client sent as an
	// HTTP upload, apart from the rest of the message's processing.
	DownloadTimeout Duration `toml:"download_timeout"`
	// DownloadHosts, if set, are the only hosts such mail is downloaded
	// from (the provider's upload services); empty: any public host.
	DownloadHosts []string `toml:"download_hosts"`
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
	// TLS is the security level of MX delivery: opportunistic (Postfix
	// "may", the default) or required ("encrypt"); none, may, encrypt and
	// verify are accepted too.
	TLS string `toml:"tls"`
	// TLSPolicy sets the level per recipient domain (Postfix
	// smtp_tls_policy_maps); ".example.org" matches subdomains.
	TLSPolicy []TLSPolicyEntry `toml:"tls_policy"`
	// MTASTS applies recipient domains' MTA-STS policies (RFC 8461) to
	// domains without a tls_policy entry.
	MTASTS bool `toml:"mta_sts"`
	// DANE authenticates MX hosts of DNSSEC-signed domains by their TLSA
	// records (RFC 7672), asking dns_server (else the first nameserver of
	// /etc/resolv.conf), which must be a validating resolver on a trusted
	// path: its AD bit is believed.
	DANE bool `toml:"dane"`
}

// TLSPolicyEntry is one [[delivery.tls_policy]] table.
type TLSPolicyEntry struct {
	Domain string `toml:"domain"`
	Mode   string `toml:"mode"` // none, may, encrypt, verify
}

// tlsPolicies is the static TLS policy of MX delivery; d was validated.
func (d DeliveryConfig) tlsPolicies() (delivery.TLSPolicies, []error) {
	var errs []error
	p := delivery.TLSPolicies{Domains: map[string]delivery.TLSLevel{}}
	if d.TLS != "" {
		l, err := delivery.ParseTLSLevel(d.TLS)
		if err != nil {
			errs = append(errs, fmt.Errorf("delivery.tls: %q (want opportunistic, required, none, may, encrypt or verify)", d.TLS))
		}
		p.Default = l
	}
	for i, e := range d.TLSPolicy {
		key := fmt.Sprintf("delivery.tls_policy[%d]", i)
		dom, err := idna.Lookup.ToASCII(strings.TrimPrefix(strings.ToLower(e.Domain), "."))
		if err != nil || dom == "" || strings.ContainsAny(e.Domain, "@ ") {
			errs = append(errs, fmt.Errorf("%s.domain: %q is not a domain", key, e.Domain))
			continue
		}
		if strings.HasPrefix(e.Domain, ".") {
			dom = "." + dom
		}
		l, err := delivery.ParseTLSLevel(e.Mode)
		if err != nil || e.Mode == "opportunistic" || e.Mode == "required" {
			errs = append(errs, fmt.Errorf("%s.mode: %q (want none, may, encrypt or verify)", key, e.Mode))
			continue
		}
		if _, dup := p.Domains[dom]; dup {
			errs = append(errs, fmt.Errorf("%s: domain %s given twice", key, e.Domain))
		}
		p.Domains[dom] = l
	}
	return p, errs
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
	if r.DownloadTimeout.Duration <= 0 {
		add("reverse.download_timeout: must be positive")
	}
	for i, h := range r.DownloadHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			add("reverse.download_hosts[%d]: %q is not a host name", i, h)
		}
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
	_, tlsErrs := d.tlsPolicies()
	errs = append(errs, tlsErrs...)
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
