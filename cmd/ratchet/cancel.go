package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// cancelReasonDefault is the reason of a cancel without -reason.
const cancelReasonDefault = "cancelled by operator"

// cmdCancel cancels a run: ratchet cancel RUN [-reason TEXT]. It appends a
// run_cancelled record (the reason in its error, kind "cancelled") and sets
// the run's index status to cancelled. A run that has already ended is
// refused with a *ratchet.RunStatusError.
func cmdCancel(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("cancel", w)
	reason := fs.String("reason", cancelReasonDefault, "why the run is cancelled")
	ops, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	id := ops[0]
	st, err := ratchet.CancelRun(ctx, s, nil, id, *reason)
	if err != nil {
		return notFound(id, err)
	}
	if *jsonOut {
		return writeJSON(w, opResult{RunID: id, Op: "cancel", Status: st.Status, Seq: st.Seq, Reason: *reason})
	}
	_, err = fmt.Fprintf(w, "run %s cancelled (record %d): %s\n", id, st.Seq, *reason)
	return err
}
