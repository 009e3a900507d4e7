// Command passerelle is an SMTP↔XMPP transition gateway: mail for users who
// moved to XMPP is encrypted to their published OpenPGP key and delivered over
// XMPP; mail from them to people still on email goes out as standard SMTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `passerelle — an SMTP↔XMPP gateway with end-to-end OpenPGP encryption

Usage:
  passerelle serve -c FILE           run the gateway until SIGINT/SIGTERM; SIGHUP reloads the config
  passerelle check-config -c FILE    report every problem in a config file, then exit
  passerelle policy explain -c FILE ADDRESS
                                     print the policy for ADDRESS and the rule behind each part
  passerelle keys init -c FILE       make the gateway's domain key (once, before serve)
  passerelle keys import -c FILE [KEYFILE]
                                     pin recipients' public keys (armored or binary; stdin if no KEYFILE)
  passerelle keys lookup -c FILE ADDRESS
                                     show the key mail to ADDRESS would be encrypted to, and its source
  passerelle keys dkim -c FILE DOMAIN
                                     print the DNS TXT record of DOMAIN's DKIM key(s), making missing key files
  passerelle keys dns -c FILE DOMAIN
                                     print the _passerelle TXT record announcing DOMAIN's gateway to peers
  passerelle peers list -c FILE      peer gateways: trust, pinned key, held key changes and why
  passerelle peers accept -c FILE DOMAIN
                                     take DOMAIN's held (pending) key as its pin; held mail then flows
  passerelle peers forget -c FILE DOMAIN
                                     drop DOMAIN's pin: its next contact is a first contact again
  passerelle queue list -c FILE      what is in the spool: each recipient's state, tries, next try, last error
  passerelle queue show -c FILE ID   one message: envelope, each recipient's state and last try (never the body)
  passerelle queue retry -c FILE ID|--all
                                     make a message (every message) due now
  passerelle queue hold -c FILE ID   stop delivering a message until released
  passerelle queue release -c FILE ID
                                     undo hold; due now
  passerelle queue delete -c FILE [--silent] ID
                                     end a message; its sender gets a DSN unless --silent
  passerelle hash-password           read a password on stdin, print its bcrypt hash
                                     (for smtp.submission.users.password_hash)
  passerelle version                 print the version
  passerelle help                    this text

Start with testdata/configs/example.toml: every key is explained there and in
README.md. "make demo" brings up a gateway with a local Prosody to try it.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "passerelle: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "passerelle: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		path, _, err := configFlag("serve", rest)
		if err != nil {
			return err
		}
		return serve(ctx, path, stderr)
	case "check-config":
		return checkConfig(rest, stdout)
	case "policy":
		return policyCmd(rest, stdout)
	case "queue":
		return queueCmd(ctx, rest, stdout)
	case "peers":
		return peersCmd(ctx, rest, stdout)
	case "keys":
		return keysCmd(ctx, rest, stdin, stdout)
	case "hash-password":
		return hashPassword(stdin, stdout)
	case "version":
		fmt.Fprintf(stdout, "passerelle %s\n", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// configFlag parses "-c FILE" and returns the remaining arguments.
func configFlag(name string, args []string) (string, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("c", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return "", nil, usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if *path == "" {
		return "", nil, usageError{name + ": -c FILE is required"}
	}
	return *path, fs.Args(), nil
}

func checkConfig(args []string, stdout io.Writer) error {
	path, _, err := configFlag("check-config", args)
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	for _, w := range cfg.warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}

func policyCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "explain" {
		return usageError{"policy: want 'policy explain -c FILE ADDRESS'"}
	}
	path, rest, err := configFlag("policy explain", args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"policy explain: want exactly one ADDRESS"}
	}
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	p, err := c.policy()
	if err != nil {
		return err
	}
	if p.IsLocal(rest[0]) {
		local := "yes (no user list: any address here may exist)"
		switch {
		case !p.UsersKnown():
		case p.Exists(rest[0]):
			local = "yes (a listed user)"
		default:
			local = "yes, but not a listed user: refused at RCPT (550 5.1.1)"
		}
		fmt.Fprintf(stdout, "%slocal:             %s\n", p.Decide(rest[0]).Explain(), local)
		return nil
	}
	fmt.Fprintf(stdout, "%slocal:             no: the MX listener refuses it (550 5.7.1) unless the peer route takes it\n", p.Decide(rest[0]).Explain())
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.Peers.LookupTimeout.Duration+time.Second)
	defer cancel()
	return explainPeer(ctx, c, rest[0], stdout)
}
