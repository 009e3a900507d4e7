package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/bridge/pep"
)

// client is alice's side of the demo.
type client struct {
	o       options
	out     io.Writer
	me      jid.JID
	key     *openpgp.Entity            // alice's key pair, in memory only
	querier pep.ClientQuerier          // IQs over alice's session
	puppets map[string]*openpgp.Entity // puppet bare JID -> key fetched over PEP
}

func run(ctx context.Context, o options, out io.Writer) error {
	sess, err := login(ctx, o)
	if err != nil {
		return err
	}
	defer sess.Close()
	c := &client{o: o, out: out, me: sess.LocalAddr().Bare(), querier: pep.ClientQuerier{Session: sess},
		puppets: map[string]*openpgp.Entity{}}
	fmt.Fprintf(out, "[alice] logged in to XMPP as %s (STARTTLS, SCRAM-SHA-1)\n", sess.LocalAddr())

	msgs := make(chan stanza, 1000)
	served := make(chan error, 1)
	go func() { served <- sess.Serve(inbound(msgs)) }()

	if err := c.publishKey(ctx); err != nil {
		return err
	}
	if o.Ready != "" {
		if err := os.WriteFile(o.Ready, []byte(keys.FingerprintOf(c.key)+"\n"), 0o644); err != nil {
			return err
		}
	}
	if o.Count > 0 {
		fmt.Fprintf(out, "[alice] waiting for %d mail(s)...\n", o.Count)
	} else {
		fmt.Fprintf(out, "[alice] waiting for mail; every arrival is printed here (Ctrl-C to stop)\n")
	}
	return c.receive(ctx, msgs, served)
}

// publishKey makes alice's OpenPGP key as an OX client does (v4, EdDSA
// primary key, Cv25519 subkey, user ID "xmpp:alice@example.org") and
// announces it in her PEP nodes with the "open" access model, so the
// gateway's component may read it (XEP-0373 §4).
func (c *client) publishKey(ctx context.Context) error {
	e, err := openpgp.NewEntity(keys.UserIDPrefix+c.me.String(), "", "", keys.GenConfig(time.Now(), rand.Reader))
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	c.key = e
	fmt.Fprintf(c.out, "[alice] generated her OpenPGP key (v4 EdDSA/Cv25519, user ID %q)\n", keys.UserIDPrefix+c.me.String())
	fmt.Fprintf(c.out, "        fingerprint %s\n", keys.FingerprintOf(e))
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pep.PublishKey(pctx, c.querier, e, "open"); err != nil {
		return fmt.Errorf("publish key over PEP: %w", err)
	}
	fmt.Fprintf(c.out, "[alice] published it over PEP (XEP-0373: %s, access model \"open\")\n", pep.KeyNode(string(keys.FingerprintOf(e))))
	return nil
}

// receive prints each arrival until Count mails were shown, the context
// ends or the session closes. It fails if any mail did not verify.
func (c *client) receive(ctx context.Context, msgs <-chan stanza, served <-chan error) error {
	n, bad := 0, 0
	for c.o.Count == 0 || n < c.o.Count {
		select {
		case m := <-msgs:
			if m.Type == "error" {
				fmt.Fprintf(c.out, "[alice] error stanza from %s: %s\n", m.From, m.Body)
				continue
			}
			n++
			// One write per mail, so it does not interleave with the
			// demo script's output.
			var b bytes.Buffer
			if err := c.show(ctx, &b, n, m); err != nil {
				bad++
				fmt.Fprintf(&b, "  !! FAILED: %v\n\n", err)
			}
			c.out.Write(b.Bytes())
		case err := <-served:
			return fmt.Errorf("XMPP session ended: %v", err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %v with %d of %d mail(s) received", c.o.Timeout, n, c.o.Count)
			}
			fmt.Fprintf(c.out, "[alice] stopping: %d mail(s) received, %d failed verification\n", n, bad)
			return nil
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d mail(s) failed verification", bad, n)
	}
	return nil
}
