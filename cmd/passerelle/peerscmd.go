package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"passerelle/bridge/keys"
	"passerelle/bridge/peerrec"
	"passerelle/bridge/peertrust"
)

const peersUsage = "peers: want 'peers list -c FILE', 'peers accept -c FILE DOMAIN' or 'peers forget -c FILE DOMAIN'"

// peersCmd implements `passerelle peers`: the operator's view of the peer
// trust store and the decisions on held key changes. It changes the store
// under its file lock; a running gateway re-reads the file at its next
// check, so no restart is needed.
func peersCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{peersUsage}
	}
	path, rest, err := configFlag("peers "+args[0], args[1:])
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	st, err := peertrust.OpenStore(cfg.peerStorePath(), nil)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		if len(rest) != 0 {
			return usageError{"peers list: takes no arguments"}
		}
		pins, err := st.List()
		if err != nil {
			return err
		}
		doms, _ := cfg.Peers.trustDomains()
		printPeers(stdout, pins, doms, peertrust.Mode(cfg.Peers.Trust), time.Now())
		return nil
	case "accept", "forget":
		if len(rest) != 1 {
			return usageError{"peers " + args[0] + ": want exactly one DOMAIN"}
		}
		return peersDecide(ctx, cfg, st, args[0], strings.ToLower(strings.TrimSuffix(rest[0], ".")), stdout)
	}
	return usageError{peersUsage}
}

func peersDecide(ctx context.Context, cfg *Config, st *peertrust.Store, verb, domain string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // the gateway holds the lock only briefly
	defer cancel()
	if doms, _ := cfg.Peers.trustDomains(); doms[domain].Mode == peertrust.Pinned {
		return fmt.Errorf("peers %s %s: the key is pinned in the configuration ([[peers.domain]]); edit it there", verb, domain)
	}
	if verb == "forget" {
		known, err := st.Forget(ctx, domain)
		if err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("peers forget %s: %w", domain, peertrust.ErrUnknown)
		}
		fmt.Fprintf(stdout, "%s forgotten: its next contact pins its key again (trust on first use)\n", domain)
		return nil
	}
	p, err := st.Accept(ctx, domain, time.Now())
	if errors.Is(err, peertrust.ErrNoPending) {
		return fmt.Errorf("peers accept %s: no key change is held for it (see 'peers list')", domain)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: key %s accepted, pinned until %s; held mail flows at its next retry\n",
		domain, p.Fingerprint, p.Expires.UTC().Format(time.RFC3339))
	return nil
}

func printPeers(w io.Writer, pins []peertrust.Pin, doms map[string]peertrust.Domain, def peertrust.Mode, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tTRUST\tSTATE\tFINGERPRINT\tJID\tPINNED UNTIL\tLAST SEEN")
	seen := map[string]bool{}
	held := 0
	for _, p := range pins {
		seen[p.Domain] = true
		mode := def
		if d, ok := doms[p.Domain]; ok {
			mode = d.Mode
		}
		state := "ok (" + p.Source + ")"
		if p.Pending != nil {
			state = "HELD"
			held++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Domain, mode, state, p.Fingerprint, p.JID,
			p.Expires.UTC().Format(time.RFC3339), ago(now, p.LastSeen))
	}
	var pinned []string
	for d, s := range doms {
		if s.Mode == peertrust.Pinned && !seen[d] {
			pinned = append(pinned, d)
		}
	}
	slices.Sort(pinned)
	for _, d := range pinned {
		fmt.Fprintf(tw, "%s\tpinned\tin config\t%x\t-\t-\t-\n", d, doms[d].Fingerprint)
	}
	tw.Flush()
	for _, p := range pins {
		if pd := p.Pending; pd != nil {
			fmt.Fprintf(w, "\n%s: HELD since %s (last %s): %s\n  pending key %s from %s (record ttl %v, DNSSEC %v)\n  to take it: passerelle peers accept -c FILE %s\n",
				p.Domain, pd.FirstSeen.UTC().Format(time.RFC3339), ago(now, pd.LastSeen), pd.Reason,
				pd.Fingerprint, pd.JID, pd.RecordTTL.Duration(), pd.Authenticated, p.Domain)
		}
	}
	fmt.Fprintf(w, "%d peer(s), %d held\n", len(pins)+len(pinned), held)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String() + " ago"
}

// keysDNS prints the _passerelle TXT record to publish for domain: our
// component JID, our domain key's fingerprint, and [peers] policy and ttl.
func keysDNS(path string, rest []string, stdout io.Writer) error {
	if len(rest) != 1 {
		return usageError{"keys dns: want exactly one DOMAIN"}
	}
	domain := strings.ToLower(strings.TrimSuffix(rest[0], "."))
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cfg.LocalDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
		return fmt.Errorf("keys dns: %s is not in local_domains of %s", domain, path)
	}
	st, err := keys.OpenStore(cfg.Keys.Dir, zap.NewNop())
	if err != nil {
		return err
	}
	e, err := st.DomainKey()
	if err != nil {
		return fmt.Errorf("keys dns: %w (run 'passerelle keys init -c %s' first)", err, path)
	}
	rec := peerrec.Record{JID: cfg.XMPP.ComponentDomain, Fingerprint: e.PrimaryKey.Fingerprint,
		Policy: peerrec.Policy(cfg.Peers.Policy), TTL: cfg.Peers.TTL.Duration}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("keys dns: %w", err)
	}
	fmt.Fprintln(stdout, peerRecordLine(domain, rec))
	return nil
}

// peerRecordLine is the zone-file line of rec for domain, its text split
// into quoted 255-byte character-strings (RFC 1035 §3.3.14).
func peerRecordLine(domain string, rec peerrec.Record) string {
	var q []string
	for txt := rec.String(); txt != ""; {
		n := min(len(txt), 255)
		q, txt = append(q, `"`+txt[:n]+`"`), txt[n:]
	}
	return fmt.Sprintf("%s 3600 IN TXT %s", peerrec.Name(domain), strings.Join(q, " "))
}
