package ratchet

import "context"

// DropRecords makes r step as a Scheduler steps it: the Step's records
// are not collected, and records are reused from step to step.
func DropRecords(r *Run) { r.dropRecords = true }

// ApplyAnswer appends the answer of interrupt id to the in-memory run, as
// a Scheduler holding the run does (for a default at a deadline).
func ApplyAnswer(ctx context.Context, r *Run, id string, a Answer) error {
	if r.own != nil {
		if err := r.holdLease(ctx); err != nil {
			return err
		}
	}
	return r.append(ctx, &Record{Kind: RecAnswered, Step: r.state.Step, Answer: &AnswerRecord{ID: id, Answer: a}})
}
