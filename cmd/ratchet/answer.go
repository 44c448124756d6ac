package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// cmdAnswer answers a pending interrupt of a waiting run: ratchet answer
// RUN INTERRUPT VALUE [-reason TEXT]. For an approval, VALUE is approve
// (yes, true) or reject (no, false), with -reason telling the model why.
// For a question, VALUE is the answer: JSON when it parses as JSON,
// otherwise a JSON string of its text; it must fit the question's schema.
// The answer is appended with ratchet.AnswerRun, which makes the run due
// again so that a Scheduler continues it.
func cmdAnswer(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("answer", w)
	reason := fs.String("reason", "", "why an approval is rejected")
	ops, err := parse(fs, args, 3)
	if err != nil {
		return err
	}
	id, intr, value := ops[0], ops[1], ops[2]
	st, err := ratchet.LoadState(ctx, s, id)
	if err != nil {
		return notFound(id, err)
	}
	var ans ratchet.Answer
	i := slices.IndexFunc(st.Interrupts, func(p ratchet.PendingInterrupt) bool { return p.ID == intr })
	if i >= 0 && st.Interrupts[i].Kind == ratchet.InterruptApproval {
		switch strings.ToLower(value) {
		case "approve", "approved", "yes", "y", "true":
			ans.Approved = true
		case "reject", "rejected", "no", "n", "false":
			ans.Reason = *reason
		default:
			return usagef("interrupt %s is an approval: answer approve or reject, not %q", intr, value)
		}
	} else {
		ans.Value = json.RawMessage(value)
		if !json.Valid(ans.Value) {
			b, _ := json.Marshal(value)
			ans.Value = b
		}
		ans.Reason = *reason
	}
	if err := ratchet.AnswerRun(ctx, s, nil, id, intr, ans); err != nil {
		return notFound(id, err)
	}
	after, err := ratchet.LoadState(ctx, s, id)
	if err != nil {
		return notFound(id, err)
	}
	if *jsonOut {
		return writeJSON(w, opResult{RunID: id, Op: "answer", Status: after.Status, Seq: after.Seq, Interrupt: intr, Answer: &ans})
	}
	_, err = fmt.Fprintf(w, "run %s: interrupt %s answered (record %d); the run is %s\n", id, intr, after.Seq, after.Status)
	return err
}
