package ratchet

import (
	"context"
	"time"
)

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

// Test-only views of unexported names, for package ratchet_test.
var (
	InboxID       = inboxID
	ParseSchedule = func(spec string) (interface{ Next(time.Time) time.Time }, error) { return parseSchedule(spec) }
	Every         = func(d time.Duration) interface{ Next(time.Time) time.Time } { return every(d) }
)

// ExternalAppendAttempts is externalAppendAttempts.
const ExternalAppendAttempts = externalAppendAttempts
