package main

import (
	"context"
	"errors"
	"flag"
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

// queueCmd implements `passerelle queue list|show|retry|hold|release|delete`.
// list and show read the spool (show asks a running gateway first);
// the others are commands to the running gateway (control.go).
func queueCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"queue: want list, show, retry, hold, release or delete"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("queue "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("c", "", "configuration file")
	all := fs.Bool("all", false, "retry: every message")
	silent := fs.Bool("silent", false, "delete: send no DSN")
	ids, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return usageError{fmt.Sprintf("queue %s: %v", sub, err)}
	}
	if *path == "" {
		return usageError{"queue " + sub + ": -c FILE is required"}
	}
	want := 1
	switch {
	case sub == "list" || (sub == "retry" && *all):
		want = 0
	case sub == "show", sub == "retry", sub == "hold", sub == "release", sub == "delete":
	default:
		return usageError{fmt.Sprintf("queue: unknown command %q", sub)}
	}
	if len(ids) != want || (*all && sub != "retry") || (*silent && sub != "delete") {
		return usageError{fmt.Sprintf("queue %s: wrong arguments (see help)", sub)}
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if cfg.Spool.Backend == spoolJetStream {
		return sharedQueueCmd(ctx, stdout, cfg, sub, ids, *all, *silent)
	}
	if sub == "list" {
		envs, damaged, err := queue.Snapshot(cfg.Spool.Dir)
		if err != nil {
			return err
		}
		printQueue(stdout, envs, damaged, time.Now())
		return nil
	}
	req := controlRequest{Op: sub, All: *all, Silent: *silent}
	if want == 1 {
		req.ID = ids[0]
	}
	resp, err := askGateway(ctx, cfg.Spool.Dir, req)
	if sub == "show" && errors.Is(err, errNoGateway) {
		return showFromSpool(stdout, cfg.Spool.Dir, req.ID)
	}
	if err != nil {
		return err
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	switch sub {
	case "show":
		printEnvelope(stdout, resp.Envelope, time.Now())
	case "retry":
		fmt.Fprintf(stdout, "%d message(s) due now\n", resp.N)
	case "delete":
		if *silent {
			fmt.Fprintf(stdout, "%s deleted, no DSN\n", req.ID)
		} else {
			fmt.Fprintf(stdout, "%s deleted; its sender gets a DSN\n", req.ID)
		}
	default:
		fmt.Fprintf(stdout, "%s %s\n", req.ID, map[string]string{"hold": "held", "release": "released"}[sub])
	}
	return nil
}

// parseInterspersed parses flags before, between and after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// showFromSpool is `queue show` with no gateway running: the envelope as
// the spool holds it.
func showFromSpool(w io.Writer, dir, id string) error {
	envs, _, err := queue.Snapshot(dir)
	if err != nil {
		return err
	}
	for _, e := range envs {
		if e.ID == id {
			printEnvelope(w, e, time.Now())
			return nil
		}
	}
	return fmt.Errorf("%w: %s", queue.ErrNotFound, id)
}

// printEnvelope is `queue show`: the envelope and each recipient's state
// and last attempt; never a body (only its kind and size).
func printEnvelope(w io.Writer, e *queue.Envelope, now time.Time) {
	from := e.From
	if from == "" {
		from = "<>"
	}
	fmt.Fprintf(w, "id:        %s\nfrom:      %s\nreceived:  %s (%s ago)\n", e.ID, from,
		e.Received.UTC().Format(time.RFC3339), now.Sub(e.Received).Round(time.Second))
	if e.EnvID != "" {
		fmt.Fprintf(w, "envid:     %s\n", oneLine(e.EnvID, 100))
	}
	if e.IsDSN {
		fmt.Fprintln(w, "kind:      a delivery status notification")
	}
	for i, b := range e.Bodies {
		fmt.Fprintf(w, "body %d:    %s, %d bytes\n", i, b.Kind, b.Size)
	}
	for _, r := range e.Recipients {
		state := string(r.State)
		if r.Held {
			state += ", held"
		}
		fmt.Fprintf(w, "recipient: %s\n  route:    %s (%s)\n  state:    %s\n  attempts: %d\n", r.Addr, r.Route, waitingFor(r), state, r.Attempts)
		if !r.LastAttempt.IsZero() {
			fmt.Fprintf(w, "  last try: %s\n", r.LastAttempt.UTC().Format(time.RFC3339))
		}
		if r.State == queue.StatePending && !r.Held && !r.NextAttempt.IsZero() {
			fmt.Fprintf(w, "  next try: %s\n", r.NextAttempt.UTC().Format(time.RFC3339))
		}
		if r.LastError != "" {
			fmt.Fprintf(w, "  error:    %s\n", oneLine(r.LastError, 200))
		}
		if r.Diag != nil {
			fmt.Fprintf(w, "  status:   %s %s\n", r.Diag.Status, oneLine(r.Diag.Text, 160))
		}
		if len(r.Notify) > 0 || r.ORCPT != "" {
			fmt.Fprintf(w, "  dsn:      notify=%s orcpt=%s\n", strings.Join(r.Notify, ","), oneLine(r.ORCPT, 100))
		}
		if r.DelayReported {
			fmt.Fprintln(w, "  delay notice sent")
		}
	}
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
				from, r.Addr, r.Route, waitingFor(r), stateOf(r), r.Attempts, next, oneLine(r.LastError, 80))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d message(s), %d recipient(s) pending\n", len(envs), pending)
	for _, d := range damaged {
		if !d.Quarantined {
			fmt.Fprintf(w, "unreadable envelope %s: %s (the gateway quarantines it at its next start)\n", d.ID, oneLine(d.Reason, 120))
			continue
		}
		fmt.Fprintf(w, "%s %s: %s\n", damagedLabel(d), d.ID, oneLine(d.Reason, 120))
	}
}

func stateOf(r queue.Recipient) string {
	if r.Held && r.State == queue.StatePending {
		return "held"
	}
	return string(r.State)
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

// damagedLabel names a quarantined entry of the shared queue.
func damagedLabel(d queue.Damaged) string {
	if d.Envelope != nil {
		return "quarantined"
	}
	return "quarantined, unreadable"
}
