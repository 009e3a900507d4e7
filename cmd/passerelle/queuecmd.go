package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"passerelle/gateway/queue"
	"passerelle/internal/forward"
	"passerelle/internal/peer"
	"passerelle/internal/relay"
	"passerelle/internal/reverse"
)

// queueCmd implements `passerelle queue list`: what is in the spool, per
// recipient, read without disturbing a running gateway.
func queueCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return usageError{"queue: want 'queue list -c FILE'"}
	}
	path, _, err := configFlag("queue list", args[1:])
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	envs, damaged, err := queue.Snapshot(cfg.Spool.Dir)
	if err != nil {
		return err
	}
	printQueue(stdout, envs, damaged, time.Now())
	return nil
}

func printQueue(w io.Writer, envs []*queue.Envelope, damaged []queue.Damaged, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tFROM\tRECIPIENT\tROUTE\tWAITING FOR\tSTATE\tTRIES\tNEXT TRY\tLAST ERROR")
	pending := 0
	for _, e := range envs {
		from := e.From
		if from == "" {
			from = "<>"
		}
		for _, r := range e.Recipients {
			next := "-"
			if r.State == queue.StatePending {
				pending++
				next = "now"
				if r.NextAttempt.After(now) {
					next = "in " + r.NextAttempt.Sub(now).Round(time.Second).String()
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, now.Sub(e.Received).Round(time.Second),
				from, r.Addr, r.Route, waitingFor(r), r.State, r.Attempts, next, oneLine(r.LastError, 80))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d message(s), %d recipient(s) pending\n", len(envs), pending)
	for _, d := range damaged {
		fmt.Fprintf(w, "unreadable envelope %s: %s (the gateway quarantines it at its next start)\n", d.ID, oneLine(d.Reason, 120))
	}
}

func oneLine(s string, n int) string {
	b := []rune(s)
	for i, r := range b {
		if r < ' ' {
			b[i] = ' '
		}
	}
	if len(b) > n {
		b = append(b[:n-1], '…')
	}
	return string(b)
}

// waitingFor names the next hop a recipient waits for: in relay mode, the
// relay client's account (at the hub) or the hub (at the client), whose
// durable ack removes it.
func waitingFor(r queue.Recipient) string {
	j := r.Params[peer.ParamJID]
	switch r.Route {
	case relay.RouteHub:
		return "relay client " + j
	case relay.RouteUp:
		return "relay hub " + j
	case peer.RouteName:
		return "peer gateway " + j
	case forward.RouteXMPP, reverse.RouteNotice:
		return "XMPP " + r.Params[forward.ParamJID]
	case reverse.RouteSMTP:
		if at := strings.LastIndexByte(r.Addr, '@'); at >= 0 {
			return "SMTP " + r.Addr[at+1:]
		}
	}
	return "-"
}
