package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/internal/relay"
)

// RelayConfig is relay mode ([relay]): a small site behind a port-25 block
// (mode = "client") sends and receives its mail through a public
// Passerelle (mode = "hub") over XMPP.
type RelayConfig struct {
	Mode string `toml:"mode"` // "", "hub" or "client"
	// Retry is the delay before another attempt after a temporary failure
	// (the other side not connected); default 30s.
	Retry Duration `toml:"retry"`
	// DedupDir keeps the acks of transfers received; default
	// spool.dir/relay-dedup.
	DedupDir string `toml:"dedup_dir"`

	// Hub: the clients it serves, and where it keeps their keys (default
	// keys.dir/relay-clients).
	Client []RelayClientConfig `toml:"client"`
	KeyDir string              `toml:"key_dir"`

	// Client: its account on the hub's XMPP server and the hub.
	JID      string `toml:"jid"`      // bare JID of the account
	Password Secret `toml:"password"` // its password
	// Server is where to connect (host:port); default the JID's domain,
	// port 5222 (no SRV lookup).
	Server string `toml:"server"`
	// DirectTLS connects with TLS from the first byte (XEP-0368; the
	// server's direct-TLS port, 5223 by default, or 443) instead of
	// STARTTLS on 5222: for networks that block or inspect 5222.
	DirectTLS      bool   `toml:"direct_tls"`
	TLSCA          string `toml:"tls_ca"` // PEM CA bundle for the server's certificate; default the system roots
	Hub            string `toml:"hub"`    // the hub component's JID
	HubFingerprint string `toml:"hub_fingerprint"`
	// MaxStanzaBytes is the hub server's stanza limit for clients
	// (Prosody: 262144).
	MaxStanzaBytes int `toml:"max_stanza_bytes"`
}

// RelayClientConfig is one [[relay.client]] of a hub.
type RelayClientConfig struct {
	JID         string   `toml:"jid"`
	Domains     []string `toml:"domains"`
	Fingerprint string   `toml:"fingerprint"`
	// MaxRecipientsPerHour bounds the client's outbound recipients; 0: 1000.
	MaxRecipientsPerHour int `toml:"max_recipients_per_hour"`
}

func defaultRelay() RelayConfig {
	return RelayConfig{Retry: Duration{30 * time.Second}, MaxStanzaBytes: 256 << 10}
}

func (c *Config) relayHub() bool    { return c.Relay.Mode == "hub" }
func (c *Config) relayClient() bool { return c.Relay.Mode == "client" }

// relayDefaults fills what client mode implies: every local address goes
// to the site's MTA, and the puppet domain (never used) is the account's.
func (c *Config) relayDefaults() {
	if !c.relayClient() {
		return
	}
	if c.Policy.Route == "" {
		c.Policy.Route = "smtp"
	}
	if j, err := jid.Parse(c.Relay.JID); err == nil && c.XMPP.ComponentDomain == "" {
		c.XMPP.ComponentDomain = j.Domainpart()
	}
}

// relayServer is the c2s address the client dials.
func (r RelayConfig) server() string {
	if r.Server != "" {
		return r.Server
	}
	port := "5222"
	if r.DirectTLS {
		port = "5223"
	}
	if j, err := jid.Parse(r.JID); err == nil {
		return net.JoinHostPort(j.Domainpart(), port)
	}
	return ""
}

func (c *Config) validateRelay() []error {
	r := c.Relay
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	hubKeys := len(r.Client) > 0 || r.KeyDir != ""
	clientKeys := r.JID != "" || r.Password.IsSet() || r.Server != "" || r.DirectTLS || r.TLSCA != "" || r.Hub != "" || r.HubFingerprint != ""
	switch r.Mode {
	case "":
		if hubKeys || clientKeys {
			add("relay: set relay.mode (hub or client) to use the relay keys")
		}
		return errs
	case "hub":
		if clientKeys {
			add("relay: jid, password, server, direct_tls, tls_ca, hub and hub_fingerprint are client keys; this is a hub")
		}
		errs = append(errs, c.validateRelayHub()...)
	case "client":
		if hubKeys {
			add("relay: [[relay.client]] and key_dir are hub keys; this is a client")
		}
		errs = append(errs, c.validateRelayClient()...)
	default:
		add("relay.mode: %q (want hub or client)", r.Mode)
	}
	if d := r.Retry.Duration; d <= 0 || d > time.Hour {
		add("relay.retry: %v (want more than 0s, at most 1h)", d)
	}
	return errs
}

func (c *Config) validateRelayHub() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Relay.Client) == 0 {
		add("relay.client: a hub needs at least one [[relay.client]]")
	}
	local := map[string]bool{}
	for _, d := range c.LocalDomains {
		local[strings.ToLower(d)] = true
	}
	held := map[string]string{}
	for i, cl := range c.Relay.Client {
		key := fmt.Sprintf("relay.client[%d]", i)
		if j, err := jid.Parse(cl.JID); err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
			add("%s.jid: %q (want the bare JID of the client's account, user@server)", key, cl.JID)
		}
		if _, err := relay.NormalizeFingerprint(cl.Fingerprint); err != nil {
			add("%s.fingerprint: %v (the client's `passerelle keys init` prints it)", key, err)
		}
		if cl.MaxRecipientsPerHour < 0 {
			add("%s.max_recipients_per_hour: %d (want 0 for the default, or more)", key, cl.MaxRecipientsPerHour)
		}
		if len(cl.Domains) == 0 {
			add("%s.domains: required (the mail domains whose MX is this hub)", key)
		}
		for _, d := range cl.Domains {
			d = strings.ToLower(d)
			switch {
			case local[d]:
				add("%s.domains: %s is also in local_domains", key, d)
			case held[d] != "":
				add("%s.domains: %s is already held by %s", key, d, held[d])
			}
			held[d] = cl.JID
		}
	}
	return errs
}

func (c *Config) validateRelayClient() []error {
	r := c.Relay
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if j, err := jid.Parse(r.JID); err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		add("relay.jid: %q (want the bare JID of this site's account on the hub's XMPP server)", r.JID)
	}
	if _, err := r.Password.Resolve(); err != nil {
		add("relay.password: %v", err)
	}
	if err := checkAddr("relay.server", r.server(), true); err != nil {
		errs = append(errs, err)
	}
	if r.TLSCA != "" {
		if _, err := os.Stat(r.TLSCA); err != nil {
			add("relay.tls_ca: %v", err)
		}
	}
	if j, err := jid.Parse(r.Hub); err != nil || j.Localpart() != "" || j.Resourcepart() != "" || r.Hub == "" {
		add("relay.hub: %q (want the hub's component JID, e.g. mail.hub.example)", r.Hub)
	}
	if _, err := relay.NormalizeFingerprint(r.HubFingerprint); err != nil {
		add("relay.hub_fingerprint: %v (the hub's `passerelle keys init` prints it)", err)
	}
	if r.MaxStanzaBytes < 16<<10 {
		add("relay.max_stanza_bytes: %d is too small (Prosody allows 262144 on client links)", r.MaxStanzaBytes)
	}
	if c.SMTP.MX.Listen != "" {
		add("smtp.mx.listen: a relay client has no MX listener (the hub is the domain's MX); leave it empty")
	}
	if c.SMTP.Submission.Listen == "" {
		add("smtp.submission.listen: required on a relay client (the site's MTA submits its outbound mail there)")
	}
	if c.Delivery.Smarthost.Addr == "" {
		add("delivery.smarthost.addr: required on a relay client (inbound mail goes to the site's MTA)")
	}
	if x := c.XMPP; x.ComponentAddr != "" || x.ComponentSecret.IsSet() {
		add("xmpp.component_addr, xmpp.component_secret: a relay client has no component; it logs in as relay.jid")
	}
	if c.Peers.Resolver != "" || len(c.Peers.Domain) > 0 {
		add("peers: a relay client sends everything through its hub; no peer route")
	}
	return errs
}
