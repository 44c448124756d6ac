package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// endedStatuses are the statuses of runs that may be deleted.
var endedStatuses = []string{string(ratchet.StatusSucceeded), string(ratchet.StatusFailed), string(ratchet.StatusCancelled)}

// cmdDelete deletes an ended run and its event inbox: ratchet delete RUN.
// A run that has not ended is refused with a *ratchet.RunStatusError, and a
// store that cannot delete (not a store.Deleter) with a
// *store.UnsupportedError.
func cmdDelete(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("delete", w)
	ops, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if err := canDelete(s); err != nil {
		return err
	}
	id := ops[0]
	if err := ratchet.DeleteRun(ctx, s, id); err != nil {
		return notFound(id, err)
	}
	if *jsonOut {
		return writeJSON(w, pruneResult{Deleted: []string{id}})
	}
	_, err = fmt.Fprintf(w, "run %s deleted\n", id)
	return err
}

// canDelete returns a *store.UnsupportedError for a store that is not a
// store.Deleter, before delete or prune looks at a run.
func canDelete(s store.Store) error {
	if _, ok := s.(store.Deleter); !ok {
		return store.NewUnsupportedError("", s, "Deleter")
	}
	return nil
}

// pruneResult is what delete and prune print with -json.
type pruneResult struct {
	// Deleted are the IDs of the runs deleted (prune -dry-run: that would
	// be), oldest first.
	Deleted []string `json:"deleted"`
	DryRun  bool     `json:"dry_run,omitempty"`
}

// cmdPrune deletes the ended runs not updated for a while: ratchet prune
// -older-than D [-status S]... [-agent A] [-dry-run].
func cmdPrune(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	return prune(ctx, s, args, w, time.Now())
}

// prune is cmdPrune as of now.
func prune(ctx context.Context, s store.Store, args []string, w io.Writer, now time.Time) error {
	fs, jsonOut := flags("prune", w)
	olderThan := fs.Duration("older-than", 0, "delete runs last updated at least this long ago (required, e.g. 720h)")
	var statuses listFlag
	fs.Var(&statuses, "status", "delete only runs with this ended status: succeeded, failed or cancelled (repeatable, or comma-separated; default all three)")
	agent := fs.String("agent", "", "delete only runs of this agent")
	dryRun := fs.Bool("dry-run", false, "list what would be deleted, delete nothing")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *olderThan <= 0 {
		return usagef("-older-than must be given, and positive")
	}
	if err := canDelete(s); err != nil {
		return err // even with -dry-run: it would delete nothing
	}
	q := store.Query{Agent: *agent}
	for _, st := range statuses {
		for _, v := range strings.Split(st, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if !slices.Contains(endedStatuses, v) {
				return usagef("-status %q: only ended runs are pruned (%s)", v, strings.Join(endedStatuses, ", "))
			}
			q.Statuses = append(q.Statuses, v)
		}
	}
	if len(q.Statuses) == 0 {
		q.Statuses = endedStatuses
	}
	infos, err := s.List(ctx, q)
	if err != nil {
		return err
	}
	cutoff := now.Add(-*olderThan)
	res := pruneResult{Deleted: []string{}, DryRun: *dryRun}
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	for _, in := range slices.Backward(infos) { // List is newest first
		if internalAgent(in.Agent) || !in.UpdatedAt.Before(cutoff) {
			continue
		}
		if !*dryRun {
			if err := ratchet.DeleteRun(ctx, s, in.ID); err != nil {
				return fmt.Errorf("after deleting %d run(s): %w", len(res.Deleted), err)
			}
		}
		res.Deleted = append(res.Deleted, in.ID)
		if !*jsonOut {
			if _, err := fmt.Fprintf(w, "%s run %s (%s, updated %s)\n", verb, in.ID, in.Status, fmtTime(in.UpdatedAt)); err != nil {
				return err
			}
		}
	}
	if *jsonOut {
		return writeJSON(w, res)
	}
	_, err = fmt.Fprintf(w, "%s %d run(s) not updated since %s\n", verb, len(res.Deleted), fmtTime(cutoff))
	return err
}
