package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors. Implementations return them (possibly wrapped with
// context) so that callers can match them with errors.Is.
var (
	// ErrNotFound is returned by Read, Get, Append, Delete and the lease
	// methods when no run has the given ID. It is never returned for a run
	// that exists but has no records past the requested sequence.
	ErrNotFound = errors.New("store: run not found")

	// ErrConflict is returned by Append when Batch.Expected is not the run's
	// last sequence (another writer appended first) or Batch.Fence is not the
	// run's current lease token (the writer lost its lease), and by
	// RenewLease and ReleaseLease when the lease is no longer held. Nothing
	// was written. The writer should re-read the run before trying again.
	ErrConflict = errors.New("store: conflict: stale sequence or lease; nothing was written")

	// ErrExists is returned by Create when a run with the ID already exists.
	ErrExists = errors.New("store: run already exists")

	// ErrLeased is returned by AcquireLease when another owner holds an
	// unexpired lease on the run.
	ErrLeased = errors.New("store: run is leased by another owner")

	// ErrInvalidID is returned by every method given a run ID that
	// ValidateID rejects, and by AcquireLease given an empty owner.
	ErrInvalidID = errors.New("store: invalid run id")

	// ErrTooLarge is returned by Create and Append when one record exceeds
	// the store's record size limit (4 MiB by default for Memory and File,
	// MaxRecordSizeDefault; see their MaxRecordSize methods). Nothing was
	// written. The ratchet runtime keeps its records within the limit: it
	// cuts tool results to fit, bounds snapshots, and records a model
	// response over the limit as a failed model call.
	ErrTooLarge = errors.New("store: record too large")

	// ErrCorrupt is returned when stored data fails its integrity checks
	// somewhere other than a log's tail (a torn tail is cut off and
	// reported, not returned).
	ErrCorrupt = errors.New("store: corrupt data")

	// ErrClosed is returned by every method of a store that has been
	// closed (File.Close).
	ErrClosed = errors.New("store: closed")
)

// Store persists runs: for each run an append-only log of opaque records
// and one index entry. It knows nothing of agents; records are bytes.
//
// Store is what every store must do. What only some stores can do comes as
// optional interfaces, found by a type assertion (like database/sql/driver's
// Pinger): Leaser (leases with fencing, for several processes) and Deleter
// (removing runs). Memory and File implement both. A caller that needs one
// asserts it and says so with an *UnsupportedError when it is missing.
//
// Implementations must be safe for concurrent use. Byte slices passed in are
// not retained after a method returns, and byte slices returned belong to the
// caller. Every method that returns an error may return ctx's error when ctx
// is done; Append then has either written the whole batch or nothing.
//
// Times are stored with nanosecond precision and returned in UTC, without a
// monotonic clock reading.
//
// Every implementation should pass storetest.Run, which runs the cases of
// the optional interfaces the store implements.
type Store interface {
	// Create creates the run described by info with its first records
	// (sequences 1..len(records)). info.ID must pass ValidateID; LastSeq,
	// SnapshotSeq and Lease are ignored and set by the store. It returns
	// ErrExists if the ID is taken, ErrInvalidID or ErrTooLarge.
	Create(ctx context.Context, info RunInfo, records [][]byte) error

	// Append appends b.Records to b.RunID's log and replaces the run's Meta
	// with b.Meta, atomically and durably: when it returns nil the batch
	// survives a crash of the process. The records get sequences
	// b.Expected+1, b.Expected+2, ...
	//
	// It returns ErrConflict (and writes nothing) when b.Expected is not
	// the run's LastSeq, or when b.Fence is non-zero and not the run's
	// current lease token (a store that is not a Leaser has no lease
	// tokens: it refuses every non-zero Fence). It returns ErrNotFound,
	// ErrInvalidID, ErrTooLarge.
	Append(ctx context.Context, b Batch) error

	// Read returns the run's records with sequence >= from, in order. from
	// below 1 is treated as 1. It returns ErrNotFound for an unknown run.
	Read(ctx context.Context, runID string, from uint64) ([]Record, error)

	// Get returns the run's index entry, or ErrNotFound.
	Get(ctx context.Context, runID string) (RunInfo, error)

	// List returns the index entries matching q, newest (by CreatedAt, then
	// ID) first.
	List(ctx context.Context, q Query) ([]RunInfo, error)
}

// Leaser is implemented by a Store with leases: time-limited claims of one
// owner on a run, with fencing (Batch.Fence), so that several processes can
// share the store and only one steps a run at a time. The ratchet
// Scheduler needs it; Agent.Start and Agent.Resume take a run's lease when
// the store has them. On a store without leases, that no two processes step
// one run is the application's part (one process per store).
//
// The lease methods return ErrNotFound for an unknown run and ErrInvalidID
// for a bad run ID, like Store's.
type Leaser interface {
	// AcquireLease gives owner the run's lease until the given time.
	// If the lease is free (never taken or released), expired at now
	// (Expires is not after now), or already held by owner, it succeeds.
	// The same owner keeps its token and gets the new expiry; a new owner
	// gets the previous token + 1, which fences older owners' appends.
	// It returns ErrLeased when another owner's lease has not expired at
	// now, and ErrInvalidID when owner is empty.
	AcquireLease(ctx context.Context, runID, owner string, now, until time.Time) (Lease, error)

	// RenewLease extends a lease that l's owner still holds (same owner and
	// token; it may have expired as long as nobody took it over) to until.
	// It returns ErrConflict when the lease was taken over or released.
	RenewLease(ctx context.Context, runID string, l Lease, until time.Time) (Lease, error)

	// ReleaseLease frees a lease l's owner still holds (same owner and
	// token): the run's Lease keeps its Token but loses its Owner and
	// Expires, and appends fenced with the token fail from then on.
	// Releasing a lease that was lost returns ErrConflict; the run is left
	// as it is.
	ReleaseLease(ctx context.Context, runID string, l Lease) error
}

// Deleter is implemented by a Store that can remove runs. ratchet.DeleteRun,
// a Scheduler's Retention and the CLI's delete and prune need it.
type Deleter interface {
	// Delete removes the run, its records and its index entry, durably. A
	// deleted run is gone: Get, Read, Append and the lease calls return
	// ErrNotFound for it, List leaves it out, and its ID may be created
	// again. Delete checks no sequence, fence or lease: deciding that a run
	// may go (it has ended, nobody steps it) is the caller's part. It
	// returns ErrNotFound for an unknown run and ErrInvalidID.
	Delete(ctx context.Context, runID string) error
}

// UnsupportedError says that an operation needs an optional interface
// (Leaser, Deleter) that a store does not implement. It wraps
// errors.ErrUnsupported. The stores of this package never return it; the
// code built on Store does (ratchet.NewScheduler, ratchet.DeleteRun, the
// ratchet CLI), before it changes anything.
type UnsupportedError struct {
	// Op is what needed the interface, such as "ratchet: delete run";
	// empty for none.
	Op string
	// Store is the store's type, as fmt's %T prints it.
	Store string
	// Interface is the name of the missing interface: "Leaser" or
	// "Deleter".
	Interface string
}

// NewUnsupportedError returns the *UnsupportedError of op needing
// interface iface ("Leaser", "Deleter") of s.
func NewUnsupportedError(op string, s Store, iface string) *UnsupportedError {
	return &UnsupportedError{Op: op, Store: fmt.Sprintf("%T", s), Interface: iface}
}

// Error returns "OP: store TYPE does not implement store.INTERFACE: WHY".
func (e *UnsupportedError) Error() string {
	msg := fmt.Sprintf("store %s does not implement store.%s", e.Store, e.Interface)
	switch e.Interface {
	case "Leaser":
		msg += ": it has no leases"
	case "Deleter":
		msg += ": it cannot delete runs"
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	return msg
}

// Unwrap returns errors.ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return errors.ErrUnsupported }

// Record is one stored record of a run's log.
type Record struct {
	// Seq is the record's position in the log, starting at 1.
	Seq uint64
	// Data is the record as appended. Read returns a copy that belongs to
	// the caller.
	Data []byte
}

// Batch is one atomic append to a run.
type Batch struct {
	RunID string
	// Expected is the sequence of the last record the writer has seen
	// (the run's LastSeq); it is 0 only for a run created without records
	// and appended to for the first time.
	Expected uint64
	// Records are appended in order; an empty Records only updates Meta.
	Records [][]byte
	// Meta replaces the run's mutable index fields.
	Meta Meta
	// Fence, when non-zero, is the writer's lease token; the append fails
	// with ErrConflict unless it is the token of the run's lease and the
	// lease has an owner (was not released). An expired lease that nobody
	// took over still fences in its holder's appends. A store that is not
	// a Leaser has no leases, so no token is current: it refuses every
	// non-zero Fence with ErrConflict rather than ignore it (a writer that
	// believes it holds a lease must not go unfenced). The ratchet runtime
	// sends Fence 0 to such a store.
	Fence uint64
}

// Meta is the part of a run's index entry that changes as it runs.
type Meta struct {
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
	// WakeAt is when a sleeping or waiting run is next due; zero for none.
	WakeAt time.Time `json:"wake_at,omitzero"`
	// SnapshotSeq is the sequence of the latest snapshot record, 0 for
	// none. (Snapshots of the ratchet runtime are incremental: its loader
	// reads from 1 and decodes only what they do not cover.)
	SnapshotSeq uint64 `json:"snapshot_seq,omitempty"`
	Totals      Totals `json:"totals,omitzero"`
}

// Totals are the run's running totals, kept in the index so that operators
// can list and sort runs by cost without reading their logs.
type Totals struct {
	Steps        int64   `json:"steps,omitempty"`
	InputTokens  int64   `json:"input_tokens,omitempty"`
	OutputTokens int64   `json:"output_tokens,omitempty"`
	ToolCalls    int64   `json:"tool_calls,omitempty"`
	CostUSD      float64 `json:"cost_usd,omitempty"`
}

// RunInfo is a run's index entry.
type RunInfo struct {
	ID        string            `json:"id"`
	Agent     string            `json:"agent"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	Meta
	// LastSeq is the sequence of the run's last record.
	LastSeq uint64 `json:"last_seq"`
	// Lease is the run's current or last lease; zero if never leased
	// (always, in a store that is not a Leaser). After ReleaseLease it has
	// no Owner and no Expires, only the Token.
	Lease Lease `json:"lease,omitzero"`
}

// Lease is a time-limited claim of one owner on a run.
type Lease struct {
	Owner string `json:"owner,omitempty"`
	// Token increases with every change of owner; appends fenced with an
	// older token fail.
	Token   uint64    `json:"token,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Query selects runs for List. The zero Query selects every run.
type Query struct {
	// Statuses, when not empty, keeps runs whose Status is one of them.
	Statuses []string
	// Agent, when not empty, keeps runs of that agent.
	Agent string
	// Labels keeps runs carrying every one of these label values.
	Labels map[string]string
	// DueBefore, when not zero, keeps runs whose WakeAt is set and not
	// after it.
	DueBefore time.Time
	// Limit, when positive, caps the number of entries returned.
	Limit int
}

// Matches reports whether info is selected by q. Implementations may use it
// to filter.
func (q Query) Matches(info RunInfo) bool {
	if len(q.Statuses) > 0 {
		ok := false
		for _, s := range q.Statuses {
			if s == info.Status {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if q.Agent != "" && q.Agent != info.Agent {
		return false
	}
	for k, v := range q.Labels {
		if got, ok := info.Labels[k]; !ok || got != v {
			return false
		}
	}
	if !q.DueBefore.IsZero() && (info.WakeAt.IsZero() || info.WakeAt.After(q.DueBefore)) {
		return false
	}
	return true
}

// QuoteID returns id quoted for an error message, cut after MaxIDLen
// bytes (an ID from outside may be of any length).
func QuoteID(id string) string {
	if len(id) <= MaxIDLen {
		return strconv.Quote(id)
	}
	return strconv.Quote(id[:MaxIDLen]) + "... (" + strconv.Itoa(len(id)) + " bytes)"
}

// MaxIDLen is the longest run ID ValidateID accepts.
const MaxIDLen = 128

// ValidateID reports whether id can name a run: 1 to MaxIDLen characters of
// [A-Za-z0-9._-], not starting with '.' or '-'. Such an ID is a safe file
// name on every platform and cannot name a path outside a directory.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return errorf(ErrInvalidID, "%s: length %d, must be 1-%d", QuoteID(id), len(id), MaxIDLen)
	}
	if id[0] == '.' || id[0] == '-' {
		return errorf(ErrInvalidID, "%q: must not start with '.' or '-'", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return errorf(ErrInvalidID, "%q: character %q not allowed (use [A-Za-z0-9._-])", id, c)
		}
	}
	return nil
}
