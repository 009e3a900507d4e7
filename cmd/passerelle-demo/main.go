// Command passerelle-demo plays alice's OX-capable XMPP client for `make
// demo` (scripts/demo.sh): it logs in, makes alice an OpenPGP key, publishes
// it over PEP the XEP-0373 way, then prints every mail the gateway forwards
// to her, decrypted and verified.
//
// It is a demonstration, not a client to use: alice's secret key lives in
// memory only and is gone when the program exits.
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

// options are the command-line flags.
type options struct {
	C2S      string        // Prosody's client port
	Domain   string        // alice's XMPP domain
	User     string        // localpart
	Password string        // alice's password
	CAFile   string        // the demo Prosody's self-signed certificate
	Ready    string        // file written once the key is published
	Inbox    string        // directory where each received <mail> is saved
	Count    int           // exit after this many mails; 0: run until stopped
	Timeout  time.Duration // give up after this long; 0: no limit
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("passerelle-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.C2S, "c2s", "127.0.0.1:15222", "XMPP client-to-server address (host:port)")
	fs.StringVar(&o.Domain, "domain", "example.org", "XMPP domain of the user")
	fs.StringVar(&o.User, "user", "alice", "user (localpart)")
	fs.StringVar(&o.Password, "password", "", "password (or env PASSERELLE_DEMO_PASSWORD)")
	fs.StringVar(&o.CAFile, "ca", "", "PEM certificate the XMPP server's certificate must chain to")
	fs.StringVar(&o.Ready, "ready", "", "write this file once the key is published")
	fs.StringVar(&o.Inbox, "inbox", "", "save each received RFC 5322 message in this directory")
	fs.IntVar(&o.Count, "n", 0, "exit after this many mails (0: run until interrupted)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "exit with an error after this long (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.Password == "" {
		o.Password = os.Getenv("PASSERELLE_DEMO_PASSWORD")
	}
	if o.Password == "" || o.CAFile == "" {
		return o, errors.New("-password (or PASSERELLE_DEMO_PASSWORD) and -ca are required")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "passerelle-demo: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	err = run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "passerelle-demo: %v\n", err)
		os.Exit(1)
	}
}
