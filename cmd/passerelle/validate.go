package main

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"

	"passerelle/gateway/smtpd"
	"passerelle/policy"

	"mellium.im/xmpp/jid"
)

func (c *Config) validate() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Hostname == "" {
		add(errors.New("hostname: required (the name this gateway greets with)"))
	}
	if len(c.LocalDomains) == 0 {
		add(errors.New("local_domains: required (the mail domains this gateway accepts mail for)"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("log.level: %q (want debug, info, warn or error)", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add(fmt.Errorf("log.format: %q (want json or console)", c.Log.Format))
	}
	errs = append(errs, c.SMTP.validate()...)
	errs = append(errs, c.validateTLS()...)
	errs = append(errs, c.Spool.validate()...)
	if c.relayClient() {
		errs = append(errs, c.validateRelay()...)
	} else {
		errs = append(errs, c.XMPP.validate()...)
		errs = append(errs, c.validateRelay()...)
	}
	if c.Keys.Dir == "" {
		add(errors.New("keys.dir: required"))
	}
	if k := c.Keys; k.RcptLookupsPerMinute <= 0 || k.RcptLookupBurst <= 0 || k.RcptLookupsPerTransaction <= 0 {
		add(errors.New("keys.rcpt_lookups_per_minute, keys.rcpt_lookup_burst, keys.rcpt_lookups_per_transaction: must be positive"))
	}
	for k, v := range map[string]int{"per_user": c.Keys.NewPuppets.PerUser, "per_user_domain": c.Keys.NewPuppets.PerUserDomain,
		"per_mail_domain": c.Keys.NewPuppets.PerMailDomain, "total": c.Keys.NewPuppets.Total} {
		if v <= 0 {
			add(fmt.Errorf("keys.new_puppets.%s: %d (want a positive number per hour)", k, v))
		}
	}
	errs = append(errs, c.validateReverse()...)
	errs = append(errs, c.Egress.validate()...)
	errs = append(errs, c.Inbound.validate()...)
	errs = append(errs, c.validatePeers()...)
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			add(fmt.Errorf("metrics.listen: %q: %w", l, err))
		}
	}
	if _, err := c.policy(); err != nil {
		for _, e := range unjoin(err) {
			add(fmt.Errorf("policy: %w", e))
		}
	}
	return errs
}

func (s SMTPConfig) validate() []error {
	var errs []error
	positive := map[string]int64{
		"smtp.max_message_bytes":    s.MaxMessageBytes,
		"smtp.max_line_length":      int64(s.MaxLineLength),
		"smtp.max_data_line_length": int64(s.MaxDataLineLength),
		"smtp.max_conns":            int64(s.MaxConns),
		"smtp.max_conns_per_ip":     int64(s.MaxConnsPerIP),
		"smtp.max_bad_commands":     int64(s.MaxBadCommands),
		"smtp.data_memory_budget":   s.DataMemoryBudget,
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", k))
		}
	}
	if s.DataMemoryBudget > 0 && s.DataMemoryBudget < smtpd.DataMemoryFactor*s.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("smtp.data_memory_budget: %d is below %d × smtp.max_message_bytes (%d): no message of the maximum size could be accepted",
			s.DataMemoryBudget, smtpd.DataMemoryFactor, smtpd.DataMemoryFactor*s.MaxMessageBytes))
	}
	if s.MaxRecipients < 100 {
		errs = append(errs, fmt.Errorf("smtp.max_recipients: %d is below RFC 5321's minimum of 100", s.MaxRecipients))
	}
	if s.MaxDataLineLength > 0 && s.MaxDataLineLength < 1000 {
		errs = append(errs, fmt.Errorf("smtp.max_data_line_length: %d is below RFC 5321's 1000 (§4.5.3.1.6)", s.MaxDataLineLength))
	}
	if s.MaxLineLength > 0 && s.MaxLineLength < 512 {
		errs = append(errs, fmt.Errorf("smtp.max_line_length: %d is below RFC 5321's 512", s.MaxLineLength))
	}
	if s.ReadTimeout.Duration == 0 || s.WriteTimeout.Duration == 0 {
		errs = append(errs, errors.New("smtp.read_timeout, smtp.write_timeout: must be set"))
	}
	if s.MX.Listen == "" && s.Submission.Listen == "" {
		errs = append(errs, errors.New("smtp.mx.listen, smtp.submission.listen: at least one listener is required"))
	}
	if err := checkAddr("smtp.mx.listen", s.MX.Listen, false); err != nil {
		errs = append(errs, err)
	}
	if err := checkAddr("smtp.submission.listen", s.Submission.Listen, false); err != nil {
		errs = append(errs, err)
	}
	if s.Submission.Listen != "" && len(s.Submission.Users) == 0 {
		errs = append(errs, errors.New("smtp.submission.users: the submission listener needs at least one user"))
	}
	for i, u := range s.Submission.Users {
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("smtp.submission.users[%d].name: required", i))
		}
		if _, err := u.PasswordHash.Resolve(); err != nil {
			errs = append(errs, fmt.Errorf("smtp.submission.users[%d].password_hash: %w", i, err))
		}
	}
	return errs
}

func (c *Config) validateTLS() []error {
	t := c.TLS
	if t.CertFile == "" && t.KeyFile == "" {
		if c.SMTP.Submission.Listen != "" {
			return []error{errors.New("tls.cert_file, tls.key_file: required by the submission listener (AUTH needs TLS)")}
		}
		return nil
	}
	var errs []error
	for _, kv := range [][2]string{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		k, f := kv[0], kv[1]
		if f == "" {
			errs = append(errs, fmt.Errorf("%s: required when TLS is configured", k))
		} else if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return errs
}

func (s SpoolConfig) validate() []error {
	var errs []error
	if s.Dir == "" {
		errs = append(errs, errors.New("spool.dir: required"))
	}
	if s.Workers <= 0 {
		errs = append(errs, errors.New("spool.workers: must be positive"))
	}
	if s.RetryInitial.Duration <= 0 {
		errs = append(errs, errors.New("spool.retry_initial: must be positive"))
	}
	if s.RetryMax.Duration < s.RetryInitial.Duration {
		errs = append(errs, errors.New("spool.retry_max: must not be less than spool.retry_initial"))
	}
	if s.Lifetime.Duration < s.RetryInitial.Duration {
		errs = append(errs, errors.New("spool.lifetime: must not be less than spool.retry_initial"))
	}
	if s.DelayWarning.Duration < 0 { // at or past spool.lifetime it never fires: allowed
		errs = append(errs, errors.New("spool.delay_warning: must be 0 (off) or positive"))
	}
	if s.Postmaster != "" && !strings.Contains(s.Postmaster, "@") {
		errs = append(errs, fmt.Errorf("spool.postmaster: %q is not an address", s.Postmaster))
	}
	switch s.Backend {
	case "", spoolFile:
	case spoolJetStream:
		errs = append(errs, s.JetStream.validate(s.Lifetime.Duration)...)
	default:
		errs = append(errs, fmt.Errorf("spool.backend: %q: want %q or %q", s.Backend, spoolFile, spoolJetStream))
	}
	return errs
}

func (x XMPPConfig) validate() []error {
	var errs []error
	if err := checkAddr("xmpp.component_addr", x.ComponentAddr, true); err != nil {
		errs = append(errs, err)
	}
	if x.ComponentDomain == "" {
		errs = append(errs, errors.New("xmpp.component_domain: required (e.g. mail.example.org)"))
	}
	if _, err := x.ComponentSecret.Resolve(); err != nil {
		errs = append(errs, fmt.Errorf("xmpp.component_secret: %w", err))
	}
	if x.MaxStanzaBytes < 16<<10 {
		errs = append(errs, fmt.Errorf("xmpp.max_stanza_bytes: %d is too small (Prosody allows 524288 on component links)", x.MaxStanzaBytes))
	}
	if x.UploadService != "" {
		if _, err := jid.Parse(x.UploadService); err != nil {
			errs = append(errs, fmt.Errorf("xmpp.upload_service: %w", err))
		}
	}
	return errs
}

// policy builds the policy from the [policy] tables.
func (c *Config) policy() (*policy.Policy, error) {
	pc := policy.Config{
		LocalDomains: c.LocalDomains,
		Directory:    c.Directory,
		Global:       c.Policy.RuleConfig.rule(),
		Domains:      map[string]policy.Rule{},
		Addresses:    map[string]policy.Rule{},
		Senders:      map[string][]string{},
	}
	users, err := c.users()
	if err != nil {
		return nil, err
	}
	pc.Users = users
	for _, u := range c.SMTP.Submission.Users {
		if u.From != nil {
			pc.Senders[u.Name] = u.From
		}
	}
	for k, r := range c.Policy.Domains {
		pc.Domains[k] = r.rule()
	}
	for k, r := range c.Policy.Addresses {
		pc.Addresses[k] = r.rule()
	}
	return policy.New(pc)
}

func (r RuleConfig) rule() policy.Rule {
	return policy.Rule{
		Route:            policy.Route(r.Route),
		Encryption:       policy.Encryption(r.Encryption),
		XMPPEncryption:   policy.XMPPEncryption(r.XMPPEncryption),
		NoKey:            policy.NoKeyAction(r.NoKey),
		ReversePlaintext: r.ReversePlaintext,
		Reverse:          policy.ReverseAccess(r.Reverse),
		MaxMessageBytes:  r.MaxMessageBytes,
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// users is the complete list of local addresses, if the configuration
// gives one (users_file, directory_complete), else nil.
func (c *Config) users() ([]string, error) {
	if c.UsersFile == "" && !c.DirectoryComplete {
		return nil, nil
	}
	users := []string{}
	for e := range c.Directory {
		users = append(users, e)
	}
	if c.UsersFile == "" {
		return users, nil
	}
	data, err := os.ReadFile(c.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("users_file: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			users = append(users, line)
		}
	}
	return users, nil
}
