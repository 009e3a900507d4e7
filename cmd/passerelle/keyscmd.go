package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/keys"
	"passerelle/bridge/omemo"
)

const keysUsage = "keys: want 'keys init -c FILE', 'keys import -c FILE [KEYFILE]', 'keys lookup -c FILE ADDRESS' or 'keys dkim|dns -c FILE DOMAIN'"

func keysCmd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{keysUsage}
	}
	path, rest, err := configFlag("keys "+args[0], args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "dkim":
		return keysDKIM(path, rest, stdout)
	case "dns":
		return keysDNS(path, rest, stdout)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	switch args[0] {
	case "init":
		return keysInit(cfg, stdout)
	case "import":
		return keysImport(cfg, rest, stdin, stdout)
	case "lookup":
		if len(rest) != 1 {
			return usageError{"keys lookup: want exactly one ADDRESS"}
		}
		return keysLookup(ctx, cfg, rest[0], stdout)
	}
	return usageError{keysUsage}
}

// keysInit makes the gateway's domain key and install secret once; running
// it again prints the existing key.
func keysInit(cfg *Config, stdout io.Writer) error {
	st, err := keys.OpenStore(cfg.Keys.Dir, zap.NewNop())
	if err != nil {
		return err
	}
	if _, err := keys.LoadInstallSecret(cfg.Keys.Dir); err != nil {
		return err
	}
	name := cfg.XMPP.ComponentDomain
	if cfg.relayClient() { // a relay client's gateway key names its account (the hub pins its fingerprint)
		name = cfg.Relay.JID
	}
	e, err := st.InitDomainKey(name, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "domain key for %s: %s\nstored in %s\n", name, keys.FingerprintOf(e), cfg.Keys.Dir)
	return nil
}

// keysImport pins public keys into the keyring (the first discovery source).
func keysImport(cfg *Config, rest []string, stdin io.Reader, stdout io.Writer) error {
	r := stdin
	if len(rest) == 1 {
		f, err := os.Open(rest[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	ring, err := keys.OpenKeyring(filepath.Join(cfg.Keys.Dir, "keyring"), zap.NewNop())
	if err != nil {
		return err
	}
	fprs, err := ring.Import(r)
	if err != nil {
		return fmt.Errorf("keys import: %w", err)
	}
	for _, f := range fprs {
		fmt.Fprintf(stdout, "imported %s\n", f)
	}
	return nil
}

// keysLookup shows which key mail to addr would be encrypted to, and where
// it came from, using the same sources as serve (without PEP, which needs
// the running component).
func keysLookup(ctx context.Context, cfg *Config, addr string, stdout io.Writer) error {
	g := &gateway{cfg: cfg, log: zap.NewNop()}
	pol, err := cfg.policy()
	if err != nil {
		return err
	}
	g.policy = pol
	if err := g.openKeys(); err != nil {
		return err
	}
	r := g.resolver // local users: keyring (and PEP in serve)
	if !pol.IsLocal(addr) {
		// Mail from addr reaches XMPP users from its puppet JID, which is
		// also an OMEMO device: its fingerprint is what they can verify.
		if p, err := jidesc.PuppetJID(addr, cfg.XMPP.ComponentDomain); err == nil && g.omemo != nil {
			info, err := g.omemo.ExistingDevice(ctx, p.String())
			switch {
			case err == nil:
				fmt.Fprintf(stdout, "puppet:      %s\nomemo device: %d\nomemo fingerprint: %s\n", p, info.DeviceID, info.Fingerprint)
			case errors.Is(err, omemo.ErrNoDevice):
				fmt.Fprintf(stdout, "puppet:      %s\nomemo device: none yet (made on first use)\n", p)
			default:
				return fmt.Errorf("keys lookup %s: omemo device: %w", addr, err)
			}
		}
		// The reverse path's recipients: keyring, Autocrypt, WKD.
		if r, err = g.recipientResolver(); err != nil {
			return err
		}
	}
	res, err := r.Resolve(ctx, addr)
	if err != nil {
		return fmt.Errorf("keys lookup %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "address:     %s\nfingerprint: %s\nsource:      %s\nuser IDs:    %v\n",
		addr, res.Fingerprint, res.Source, keys.Addresses(res.Key))
	return nil
}
