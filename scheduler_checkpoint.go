package ratchet

import "context"

// BusyPolicy is what Scheduler.Send does with a message for a run that is
// busy stepping.
type BusyPolicy string

// The busy policies.
const (
	// BusyEnqueue queues the message for the run's next step.
	BusyEnqueue BusyPolicy = "enqueue"
	// BusyReject refuses the message with ErrRunBusy.
	BusyReject BusyPolicy = "reject"
	// BusyInterrupt cancels the step in progress (its run stays
	// consistent) and delivers the message before the next one.
	BusyInterrupt BusyPolicy = "interrupt"
)

// inboxItem is a message handed to the worker stepping a run.
type inboxItem struct{}

// checkpoint does the work due between two steps of a leased run.
func (s *Scheduler) checkpoint(ctx context.Context, r *Run, sr *schedRun) error {
	return nil
}
