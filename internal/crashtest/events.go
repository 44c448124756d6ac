package main

import (
	"encoding/json"
	"os"
	"sync"
)

// Event is one line the child writes on its event pipe (file descriptor
// 3), in the order things happened, each before the child's next action.
// The pipe outlives a SIGKILL: what was written is read by the parent.
type Event struct {
	// Ev is the kind: "ack" (a Create or Append returned nil), "model" (the
	// model answered), "tool" (a tool's side effect), "done" (the run
	// completed), "refused" (after an injected I/O fault
	// failed the run, or the store's open, with store.ErrFailed, the store
	// refused a change even with the fault gone; the child exits with
	// code 3).
	Ev string `json:"ev"`

	// ack: Op is "create" or "append"; the records, of run Run, got the
	// sequences First, First+1, ...
	Op    string   `json:"op,omitempty"`
	Run   string   `json:"run,omitempty"`
	First uint64   `json:"first,omitempty"`
	Recs  [][]byte `json:"recs,omitempty"`
	// Status is the Meta.Status (append) or the RunInfo's status (create).
	Status string `json:"status,omitempty"`

	// model: N is the number of assistant messages in the request, that
	// is the step being answered, from 0.
	N int `json:"n,omitempty"`

	// tool: Key is the call's idempotency key, Tool its name.
	Key  string `json:"key,omitempty"`
	Tool string `json:"tool,omitempty"`

	// done: the run's final answer and the number of hooks passed; with
	// CRASH_FAULT, the number of writes and fdatasyncs of the store's files.
	Output string `json:"output,omitempty"`
	Hooks  int64  `json:"hooks,omitempty"`
	Writes int    `json:"writes,omitempty"`
	Syncs  int    `json:"syncs,omitempty"`

	// refused: the error.
	Err string `json:"err,omitempty"`
}

// EventFD is the file descriptor of the event pipe in the child.
const EventFD = 3

// reporter writes events, one JSON line per write(2) call, under a mutex,
// so that concurrent tool calls do not interleave.
type reporter struct {
	mu sync.Mutex
	f  *os.File
}

func (r *reporter) report(e Event) {
	line, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	line = append(line, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.Write(line); err != nil {
		panic(err) // the parent is gone: nothing left to report to
	}
}
