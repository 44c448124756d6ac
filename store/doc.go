// Package store defines how ratchet persists runs, and two implementations.
//
// A Store is to ratchet what database/sql/driver is to database/sql: a small
// interface, bytes in and out. It knows nothing of agents, models or tools.
// For each run it keeps an append-only log of opaque records, numbered from
// 1, and one index entry (RunInfo) with the run's agent name, status, labels,
// times, totals and lease.
//
// # Concurrency
//
// Appends are optimistic: a Batch names the sequence its writer has seen
// last (Expected). If another writer got there first, Append returns
// ErrConflict and writes nothing. Leases add fencing for multi-process use:
// a writer that holds a lease passes its token as Batch.Fence, and once
// another owner has taken the lease over, the stale writer's appends fail
// with ErrConflict.
//
// # Implementations
//
// Memory keeps everything in memory (tests, embedded use). File is the
// embedded default: one directory, framed and checksummed records, fsync
// before an append returns. Every implementation runs the conformance suite
// in package storetest.
package store
