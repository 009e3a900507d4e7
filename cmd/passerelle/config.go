package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"passerelle/gateway/smtpd"
	"passerelle/internal/reverse"
)

// Config is the whole TOML configuration file. Every key is documented in
// testdata/configs/example.toml and the README.
type Config struct {
	Hostname     string       `toml:"hostname"`
	LocalDomains []string     `toml:"local_domains"`
	Log          LogConfig    `toml:"log"`
	SMTP         SMTPConfig   `toml:"smtp"`
	TLS          TLSConfig    `toml:"tls"`
	Spool        SpoolConfig  `toml:"spool"`
	XMPP         XMPPConfig   `toml:"xmpp"`
	Keys         KeysConfig   `toml:"keys"`
	Policy       PolicyConfig `toml:"policy"`
	// Directory maps local addresses to the bare JIDs that read them, where
	// they differ; by default alice@example.org is the JID alice@example.org.
	Directory map[string]string `toml:"directory"`
	// UsersFile lists every local address that exists, one a line (# for
	// comments); DirectoryComplete says the directory lists them all. With
	// either, other local addresses get 550 5.1.1 at RCPT.
	UsersFile         string `toml:"users_file"`
	DirectoryComplete bool   `toml:"directory_complete"`
	// The reverse path and outbound SMTP: see config_reverse.go.
	Reverse  ReverseConfig  `toml:"reverse"`
	Delivery DeliveryConfig `toml:"delivery"`
	Egress   EgressConfig   `toml:"egress"`
	DKIM     []DKIMConfig   `toml:"dkim"`
	// Sender authentication on the forward path: see config_inbound.go.
	Inbound InboundConfig `toml:"inbound"`
	// The peer route's discovery and trust: see config_peers.go.
	Peers PeersConfig `toml:"peers"`
	// Relay mode, hub or client: see config_relay.go.
	Relay RelayConfig `toml:"relay"`
	// Prometheus metrics and health probes: see metrics.go.
	Metrics MetricsConfig `toml:"metrics"`
}

// MetricsConfig is the HTTP listener of /metrics, /healthz and /readyz.
type MetricsConfig struct {
	Listen string `toml:"listen"` // e.g. "127.0.0.1:9025"; empty: off
}

// LogConfig controls logging.
type LogConfig struct {
	Level          string `toml:"level"`           // debug, info, warn, error
	Format         string `toml:"format"`          // json or console
	ClearAddresses bool   `toml:"clear_addresses"` // log addresses unhashed
}

// SMTPConfig holds the listeners and the limits they share.
type SMTPConfig struct {
	MaxMessageBytes   int64    `toml:"max_message_bytes"`
	MaxRecipients     int      `toml:"max_recipients"`
	MaxLineLength     int      `toml:"max_line_length"`      // command lines
	MaxDataLineLength int      `toml:"max_data_line_length"` // text lines of DATA
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	MaxConns          int      `toml:"max_conns"`
	MaxConnsPerIP     int      `toml:"max_conns_per_ip"`
	MaxBadCommands    int      `toml:"max_bad_commands"`
	GreetDelay        Duration `toml:"greet_delay"`
	// DataMemoryBudget bounds the memory of all DATA transactions of both
	// listeners together (smtpd.Budget); past it, 452 4.3.1.
	DataMemoryBudget int64          `toml:"data_memory_budget"`
	MX               ListenerConfig `toml:"mx"`
	Submission       SubmitConfig   `toml:"submission"`
}

// ListenerConfig is one SMTP listener.
type ListenerConfig struct {
	Listen string `toml:"listen"`
}

// SubmitConfig is the authenticated submission listener.
type SubmitConfig struct {
	Listen string       `toml:"listen"`
	Users  []SubmitUser `toml:"users"`
}

// SubmitUser is one account allowed to submit mail.
type SubmitUser struct {
	Name string `toml:"name"`
	// Password is the account's password hash (bcrypt, from
	// `passerelle hash-password`), given as a Secret.
	PasswordHash Secret `toml:"password_hash"`
	// From lists the sender addresses (MAIL FROM and header From) the
	// account may use: "alice@example.org", "@example.org" (a whole
	// domain) or "*" (any address, but such mail is marked unverified).
	// Absent: the login name, if it is an address; else nothing.
	From []string `toml:"from"`
}

// TLSConfig names the certificate for STARTTLS.
type TLSConfig struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// SpoolConfig is the durable queue.
type SpoolConfig struct {
	Dir          string   `toml:"dir"`
	Workers      int      `toml:"workers"`
	RetryInitial Duration `toml:"retry_initial"`
	RetryMax     Duration `toml:"retry_max"`
	Lifetime     Duration `toml:"lifetime"`
	DelayWarning Duration `toml:"delay_warning"` // one delay DSN per recipient pending this long; 0: none
	Postmaster   string   `toml:"postmaster"`
	// Backend is "file" (default: the embedded spool in Dir) or
	// "jetstream" (one queue shared by several nodes; config_spool.go).
	Backend   string          `toml:"backend"`
	JetStream JetStreamConfig `toml:"jetstream"`
}

// XMPPConfig is the XEP-0114 component link to the XMPP server.
type XMPPConfig struct {
	ComponentAddr   string   `toml:"component_addr"`
	ComponentDomain string   `toml:"component_domain"`
	ComponentSecret Secret   `toml:"component_secret"`
	AckTimeout      Duration `toml:"ack_timeout"`
	// MaxStanzaBytes is the server's stanza limit for components (Prosody:
	// 512 KiB); mail that does not fit goes through HTTP File Upload.
	MaxStanzaBytes int `toml:"max_stanza_bytes"`
	// UploadService is the XEP-0363 service JID (Prosody's http_file_share
	// component, e.g. upload.example.org); empty: large mail is refused.
	UploadService string `toml:"upload_service"`
	// UploadAllowLoopbackHTTP accepts http:// upload URLs on loopback (tests, demo).
	UploadAllowLoopbackHTTP bool `toml:"upload_allow_loopback_http"`
}

// KeysConfig is OpenPGP key storage and discovery.
type KeysConfig struct {
	Dir           string   `toml:"dir"`
	WKD           bool     `toml:"wkd"`
	CacheTTL      Duration `toml:"cache_ttl"`
	NegativeTTL   Duration `toml:"negative_ttl"`
	LookupTimeout Duration `toml:"lookup_timeout"`
	// Uncached key lookups at RCPT, per MX client network and per
	// transaction (forward.LookupLimits).
	RcptLookupsPerMinute      float64 `toml:"rcpt_lookups_per_minute"`
	RcptLookupBurst           int     `toml:"rcpt_lookup_burst"`
	RcptLookupsPerTransaction int     `toml:"rcpt_lookups_per_transaction"`
	// NewPuppets bounds the puppet keys XEP-0373 queries of local users
	// may make (others only get existing ones): new puppets per hour.
	NewPuppets NewPuppetsConfig `toml:"new_puppets"`
}

// NewPuppetsConfig is pep.NewPuppetLimits: new puppet keys per hour (also
// the burst) per requesting user, per requesting domain, per
// correspondent's mail domain, and in total.
type NewPuppetsConfig struct {
	PerUser       int `toml:"per_user"`
	PerUserDomain int `toml:"per_user_domain"`
	PerMailDomain int `toml:"per_mail_domain"`
	Total         int `toml:"total"`
}

// PolicyConfig is the global rule plus per-domain and per-address rules.
type PolicyConfig struct {
	RuleConfig
	Domains   map[string]RuleConfig `toml:"domains"`
	Addresses map[string]RuleConfig `toml:"addresses"`
}

// RuleConfig is one policy rule; empty fields inherit.
type RuleConfig struct {
	Route            string `toml:"route"`
	Encryption       string `toml:"encryption"`
	XMPPEncryption   string `toml:"xmpp_encryption"` // ox | omemo | prefer-ox | prefer-omemo
	NoKey            string `toml:"no_key"`
	ReversePlaintext *bool  `toml:"reverse_plaintext"`
	Reverse          string `toml:"reverse"` // allow | deny: the local sender may use the reverse path
	MaxMessageBytes  int64  `toml:"max_message_bytes"`
}

// Duration is a time.Duration written as "90s", "5m", "120h".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	d.Duration = v
	return nil
}

// Secret is a value that may be written inline or, better, kept out of the
// file: `{ env = "NAME" }` or `{ file = "/path" }`.
type Secret struct {
	Value string `toml:"value"`
	Env   string `toml:"env"`
	File  string `toml:"file"`
}

// UnmarshalTOML accepts a plain string or a table with one of value/env/file.
func (s *Secret) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		s.Value = v
		return nil
	case map[string]any:
		for k, x := range v {
			str, ok := x.(string)
			if !ok {
				return fmt.Errorf("secret key %q: want a string", k)
			}
			switch k {
			case "value":
				s.Value = str
			case "env":
				s.Env = str
			case "file":
				s.File = str
			default:
				return fmt.Errorf("secret: unknown key %q (want value, env or file)", k)
			}
		}
		return nil
	}
	return fmt.Errorf("secret: want a string or a table, got %T", v)
}

// IsSet reports whether any source is configured.
func (s Secret) IsSet() bool { return s.Value != "" || s.Env != "" || s.File != "" }

// Resolve returns the secret's value from its one configured source.
func (s Secret) Resolve() (string, error) {
	n := 0
	for _, x := range []string{s.Value, s.Env, s.File} {
		if x != "" {
			n++
		}
	}
	if n != 1 {
		return "", errors.New("set exactly one of value, env, file")
	}
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return s.Value, nil
}

// defaultConfig holds the values used for keys the file leaves out.
func defaultConfig() Config {
	return Config{
		Log: LogConfig{Level: "info", Format: "json"},
		SMTP: SMTPConfig{
			MaxMessageBytes:   36 << 20,
			MaxRecipients:     100,
			MaxLineLength:     512,
			MaxDataLineLength: 1000,
			ReadTimeout:       Duration{5 * time.Minute},
			WriteTimeout:      Duration{5 * time.Minute},
			MaxConns:          1000,
			MaxConnsPerIP:     20,
			MaxBadCommands:    10,
			GreetDelay:        Duration{time.Second},
			DataMemoryBudget:  smtpd.DefaultDataMemoryBudget,
		},
		Spool: SpoolConfig{
			Workers:      8,
			RetryInitial: Duration{15 * time.Minute},
			RetryMax:     Duration{4 * time.Hour},
			Lifetime:     Duration{5 * 24 * time.Hour},
			DelayWarning: Duration{4 * time.Hour},
		},
		XMPP: XMPPConfig{AckTimeout: Duration{30 * time.Second}, MaxStanzaBytes: 512 << 10},
		Keys: KeysConfig{
			WKD:           true,
			CacheTTL:      Duration{time.Hour},
			NegativeTTL:   Duration{10 * time.Minute},
			LookupTimeout: Duration{10 * time.Second},

			RcptLookupsPerMinute:      60,
			RcptLookupBurst:           30,
			RcptLookupsPerTransaction: 10,
			NewPuppets:                NewPuppetsConfig{PerUser: 30, PerUserDomain: 300, PerMailDomain: 100, Total: 600},
		},
		Reverse: ReverseConfig{Workers: 4, RatePerMinute: 30, Burst: 10, MaxRecipientsPerHour: 100,
			DownloadTimeout: Duration{reverse.DefaultDownloadTimeout}},
		Delivery: DeliveryConfig{Port: 25, MaxPerDestination: 20, TLS: "opportunistic", MTASTS: true,
			Smarthost: SmarthostConfig{TLS: "starttls"}},
		Inbound: defaultInbound(),
		Peers:   defaultPeers(),
		Relay:   defaultRelay(),
	}
}

// LoadConfig reads and strictly decodes the file at path, then validates it.
// The error lists every problem found, each with its key.
func LoadConfig(path string) (*Config, error) {
	c, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// loadConfig is LoadConfig, returning the decoded configuration even when
// it has problems (a *ConfigError), for commands that fix some of them.
func loadConfig(path string) (*Config, error) {
	c := defaultConfig()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.resolvePaths(filepath.Dir(path))
	c.relayDefaults()
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("%s: unknown key", k))
	}
	errs = append(errs, c.validate()...)
	if err := errors.Join(errs...); err != nil {
		return &c, &ConfigError{Path: path, Errs: errs}
	}
	return &c, nil
}

// ConfigError lists every problem in a configuration file.
type ConfigError struct {
	Path string
	Errs []error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", e.Path, len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *ConfigError) Unwrap() []error { return e.Errs }

func checkAddr(key, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%s: required", key)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", key, v, err)
	}
	return nil
}

// resolvePaths makes every relative path in the file relative to the file's
// own directory, so a configuration means the same from any working directory.
func (c *Config) resolvePaths(base string) {
	for _, p := range []*string{
		&c.TLS.CertFile, &c.TLS.KeyFile, &c.Spool.Dir, &c.Keys.Dir, &c.UsersFile,
		&c.XMPP.ComponentSecret.File, &c.Reverse.ThreadsFile, &c.Delivery.Smarthost.Password.File,
		&c.Peers.Store, &c.Peers.DedupDir,
		&c.Relay.DedupDir, &c.Relay.KeyDir, &c.Relay.TLSCA, &c.Relay.Password.File,
		&c.Spool.JetStream.CredentialsFile, &c.Spool.JetStream.TLSCAFile, &c.Spool.JetStream.Password.File, &c.Spool.JetStream.Token.File,
	} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range c.DKIM {
		if f := &c.DKIM[i].KeyFile; *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(base, *f)
		}
	}
	for i := range c.SMTP.Submission.Users {
		f := &c.SMTP.Submission.Users[i].PasswordHash.File
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(base, *f)
		}
	}
}
