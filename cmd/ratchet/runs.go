package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ratchet-run/ratchet/store"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// cmdRuns lists runs, newest first: ratchet runs [-status S] [-agent A]
// [-label k=v]... [-limit N] [-all]. The runtime's own bookkeeping runs
// (periodic schedules, event inboxes) are left out unless -all or -agent
// names them. With -json it prints a JSON array of the
// store's index entries (store.RunInfo).
func cmdRuns(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("runs", w)
	var statuses, labels listFlag
	fs.Var(&statuses, "status", "keep runs with this status (repeatable, or comma-separated)")
	agent := fs.String("agent", "", "keep runs of this agent")
	fs.Var(&labels, "label", "keep runs with this label, as key=value (repeatable)")
	limit := fs.Int("limit", 50, "list at most N runs (0 for all)")
	all := fs.Bool("all", false, "also list the runtime's own bookkeeping runs (periodic schedules, event inboxes)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	q := store.Query{Agent: *agent}
	if *limit < 0 {
		return usagef("-limit must not be negative")
	}
	for _, st := range statuses {
		for _, v := range strings.Split(st, ",") {
			if v = strings.TrimSpace(v); v != "" {
				q.Statuses = append(q.Statuses, v)
			}
		}
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return usagef("-label %q: want key=value", l)
		}
		if q.Labels == nil {
			q.Labels = map[string]string{}
		}
		q.Labels[k] = v
	}
	infos, err := s.List(ctx, q)
	if err != nil {
		return err
	}
	if !*all && *agent == "" {
		infos = slices.DeleteFunc(infos, func(in store.RunInfo) bool { return internalAgent(in.Agent) })
	}
	if *limit > 0 && len(infos) > *limit {
		infos = infos[:*limit]
	}
	if *jsonOut {
		if infos == nil {
			infos = []store.RunInfo{}
		}
		return writeJSON(w, infos)
	}
	return printRuns(w, infos)
}

// internalAgent reports whether runs of agent are the runtime's own
// bookkeeping (ratchet.PeriodicAgent, ratchet.InboxAgent): their names
// start with "ratchet.", and an agent's own name cannot contain a dot.
func internalAgent(agent string) bool { return strings.HasPrefix(agent, "ratchet.") }

func printRuns(w io.Writer, infos []store.RunInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENT\tSTATUS\tCREATED\tUPDATED\tSTEPS\tTOKENS\tCOST")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", in.ID, in.Agent, in.Status,
			fmtTime(in.CreatedAt), fmtTime(in.UpdatedAt), in.Totals.Steps,
			in.Totals.InputTokens+in.Totals.OutputTokens, fmtCost(in.Totals.CostUSD))
	}
	return tw.Flush()
}
