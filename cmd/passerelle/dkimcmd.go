package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"passerelle/gateway/dkim"
	"passerelle/internal/fsutil"
)

// keysDKIM prints the DNS TXT record to publish for each [[dkim]] key of
// domain, first making a key file that does not exist yet (RSA 2048, the
// key type every verifier supports; mode 0600).
func keysDKIM(path string, rest []string, stdout io.Writer) error {
	if len(rest) != 1 {
		return usageError{"keys dkim: want exactly one DOMAIN"}
	}
	domain := strings.ToLower(strings.TrimSuffix(rest[0], "."))
	cfg, err := loadConfig(path)
	if err != nil && !onlyMissingDKIMKeys(err) {
		return err
	}
	n := 0
	for _, d := range cfg.DKIM {
		if strings.ToLower(d.Domain) != domain {
			continue
		}
		n++
		if err := makeDKIMKey(d.KeyFile, stdout); err != nil {
			return err
		}
		key, err := dkim.LoadKeyFile(d.KeyFile)
		if err != nil {
			return err
		}
		rec, err := dkim.DNSRecord(d.Selector, domain, key.Public())
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, rec)
	}
	if n == 0 {
		return fmt.Errorf("keys dkim: %s has no [[dkim]] entry for %s", path, domain)
	}
	return nil
}

// makeDKIMKey writes a new key to path unless it exists.
func makeDKIMKey(path string, stdout io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	k, err := dkim.GenerateKey(dkim.RSA)
	if err != nil {
		return err
	}
	pem, err := dkim.EncodePrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keys dkim: %w", err)
	}
	// never replace an existing key; whole or absent after a crash
	if err := fsutil.CreateNew(fsutil.OS{}, filepath.Dir(path), filepath.Base(path), pem); err != nil {
		return fmt.Errorf("keys dkim: write %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "; new DKIM key written to %s\n", path)
	return nil
}

// onlyMissingDKIMKeys reports whether every problem of a configuration is
// a DKIM key file that `keys dkim` is about to make.
func onlyMissingDKIMKeys(err error) bool {
	var ce *ConfigError
	if !errors.As(err, &ce) {
		return false
	}
	for _, e := range ce.Errs {
		if !errors.Is(e, errDKIMKeyMissing) {
			return false
		}
	}
	return true
}
