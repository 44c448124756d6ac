package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Damage: what a File store does with a frame that fails its checks
// somewhere other than at the log's tail. One bad frame must not take the
// whole store down, and must not go unnoticed either: the run it belongs
// to is marked damaged (its records before the damage stay readable, Get
// and Read of it return a *DamagedError, changes to it are refused), and
// every other run opens and works.

// ErrDamaged is wrapped by the errors a File store returns for a run whose
// log it found damaged (see DamagedError). Such errors wrap ErrCorrupt
// too.
var ErrDamaged = errors.New("store: run damaged")

// ErrUnsafeFile is returned by NewFile when one of the store's files is a
// symbolic link (or not a regular file): a store never follows one, so
// that nobody who can write the directory can point a log at another
// file.
var ErrUnsafeFile = errors.New("store: unsafe store file")

// Damage describes damage a File store found in its log.
type Damage struct {
	// RunID is the damaged run; empty when the damaged bytes could not
	// be attributed to any run.
	RunID string
	// Offset and Size locate the damaged bytes in the log.
	Offset, Size int64
	// LastSeq is the last record of the run before the damage: records
	// 1..LastSeq are intact and readable.
	LastSeq uint64
	// Reason says what is wrong.
	Reason string
}

// String describes d in one line.
func (d Damage) String() string {
	who := "unattributed bytes"
	if d.RunID != "" {
		who = fmt.Sprintf("run %q (records 1..%d intact)", d.RunID, d.LastSeq)
	}
	return fmt.Sprintf("%s: %d bytes at offset %d: %s", who, d.Size, d.Offset, d.Reason)
}

// DamagedError is returned by Get, Read and every change of a run that a
// File store found damaged. It wraps ErrDamaged and ErrCorrupt.
type DamagedError struct {
	Op     string
	Damage Damage
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("store: %s %q: run damaged: %s", e.Op, e.Damage.RunID, e.Damage)
}

// Is reports whether target is ErrDamaged or ErrCorrupt.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged || target == ErrCorrupt }

// MissingDataError is returned by NewFile when something on disk proves
// that acknowledged data is missing from the log (it was truncated or
// replaced): the index checkpoint covers more log than there is. It wraps
// ErrCorrupt. The store is left as it is.
type MissingDataError struct {
	// Path is the log's path.
	Path string
	// Size is the log's size; Want the size the evidence proves it had at
	// least.
	Size, Want int64
	// Evidence says what proves it.
	Evidence string
	// Runs are the runs with acknowledged records past Size (some, if
	// many), and Lost how many runs that is in all.
	Runs []string
	Lost int
}

func (e *MissingDataError) Error() string {
	msg := fmt.Sprintf("store: %s is %d bytes but %s shows it held at least %d: %d bytes of acknowledged data are missing",
		e.Path, e.Size, e.Evidence, e.Want, e.Want-e.Size)
	if e.Lost > 0 {
		msg += fmt.Sprintf(", records of %d runs (%s", e.Lost, strings.Join(e.Runs, ", "))
		if e.Lost > len(e.Runs) {
			msg += ", ..."
		}
		msg += ")"
	}
	return msg
}

// Unwrap returns ErrCorrupt.
func (e *MissingDataError) Unwrap() error { return ErrCorrupt }

// Damage returns the damage the store has found in its log so far (at
// open, when catching up, or when Read met a bad frame), in log order.
// Damaged runs are left out of List; Get and Read of one return a
// *DamagedError. The CLI's verify prints this report.
func (f *File) Damage() []Damage {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := append([]Damage(nil), f.damage...)
	sort.Slice(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// markDamaged records damage and, if it names a run, marks the run damaged
// (creating a stub for a run the index does not know). f.mu must be held
// for writing.
func (f *File) markDamaged(d Damage) {
	if d.RunID != "" {
		run := f.runs[d.RunID]
		if run == nil {
			run = &fileRun{info: RunInfo{ID: d.RunID}}
			f.runs[d.RunID] = run
		}
		if run.damage != nil {
			return // the first damage is what counts
		}
		d.LastSeq = run.info.LastSeq
		run.damage = &d
	}
	f.damage = append(f.damage, d)
}

// damagedErr returns the error for op on a damaged run.
func damagedErr(op string, run *fileRun) error {
	return &DamagedError{Op: op, Damage: *run.damage}
}
