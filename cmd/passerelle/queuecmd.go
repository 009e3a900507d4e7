package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"passerelle/gateway/queue"
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
	fmt.Fprintln(tw, "ID\tAGE\tFROM\tRECIPIENT\tROUTE\tSTATE\tTRIES\tNEXT TRY\tLAST ERROR")
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, now.Sub(e.Received).Round(time.Second),
				from, r.Addr, r.Route, r.State, r.Attempts, next, oneLine(r.LastError, 80))
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
