// Package store defines how ratchet persists runs, and two implementations.
//
// A Store is to ratchet what database/sql/driver is to database/sql: a small
// interface, bytes in and out. It knows nothing of agents, models or tools.
// For each run it keeps an append-only log of opaque records, numbered from
// 1, and one index entry (RunInfo) with the run's agent name, status, labels,
// times, totals and lease.
//
// # The contract
//
// Store has the five methods every store must have: Create, Append, Read,
// Get and List. What only some stores can do are optional interfaces,
// found by type assertion as database/sql/driver's Pinger is:
//
//   - Leaser (AcquireLease, RenewLease, ReleaseLease): leases with
//     fencing, so that several processes share a store. The ratchet
//     Scheduler needs it; Agent.Start and Agent.Resume use it when it is
//     there.
//   - Deleter (Delete): removing runs. ratchet.DeleteRun, a Scheduler's
//     Retention and the CLI's delete and prune need it.
//
// Memory and File implement both. Code that needs an interface a store
// lacks returns an *UnsupportedError (errors.ErrUnsupported) before it
// changes anything. storetest.Run checks a store against the cases of the
// interfaces it has.
//
// # Concurrency
//
// Appends are optimistic: a Batch names the sequence its writer has seen
// last (Expected). If another writer got there first, Append returns
// ErrConflict and writes nothing. Leases (Leaser) add fencing for
// multi-process use: a writer that holds a lease passes its token as
// Batch.Fence, and once another owner has taken the lease over, the stale
// writer's appends fail with ErrConflict. A store without leases refuses
// every non-zero Fence with ErrConflict (no token is current), and the
// ratchet runtime sends it none.
//
// # Record size
//
// A store limits the size of one record: Create and Append refuse a larger
// one with ErrTooLarge and write nothing. Memory and File take records of
// up to 4 MiB (MaxRecordSizeDefault; MemoryOptions.MaxRecordSize,
// FileOptions.MaxRecordSize) and say so with a MaxRecordSize method, which
// the ratchet runtime looks for (ratchet.RecordSizer): it keeps every
// record within it, cutting tool results to fit, bounding snapshots and
// recording a model response over it as a failed call. A store without
// the method is taken to accept 4 MiB.
//
// # Implementations
//
// Memory keeps everything in memory (tests, embedded use). File is the
// embedded default: one directory, framed and checksummed records, fsync
// before an append returns. Every implementation runs the conformance suite
// in package storetest.
//
// # File: directory
//
// A File store's directory (mode 0700 when the store creates it) holds
// these files, all mode 0600:
//
//   - ratchet.wal (FileLogName): the write-ahead log, shared by all runs.
//   - ratchet.lock (FileLockName): empty; processes flock(2) it to change
//     the log.
//   - ratchet.open (FileOpenName): empty; every open holds a shared
//     flock(2) on it, so that File.Compact can tell it is alone.
//   - ratchet.idx (FileIndexName): a checkpoint of the index, a cache that
//     saves reading the whole log at open (see below). Deleting it is safe.
//
// Run IDs never become file names: they are data inside the log, so no ID
// can name a path, and ValidateID still rejects every ID that could.
//
// Why one shared log rather than a file per run: an append is durable only
// after an fsync, and an fsync costs about the same for one record as for a
// thousand (~170µs on the reference machine). With a file per run, a
// thousand runs appending at once need a thousand fsyncs; with one log,
// everything queued is written with one write and one fsync (group commit),
// so throughput grows with concurrency while a lone append still costs one
// write and one fsync, independent of the run's history.
//
// Group commit is leader/follower: a caller that finds no commit in
// progress leads one. It takes every queued change, writes and syncs them
// together, wakes their callers and hands the lead to the first caller that
// queued meanwhile. A lone append therefore costs no goroutine switch, and
// the store starts no goroutines.
//
// # File: log format
//
// All integers are little-endian; "uvarint" is encoding/binary's. The log
// starts with a 16-byte header: the 8 bytes "RTCHTWAL", the format version
// (uint32, 1) and 4 zero bytes. Frames follow, back to back. A frame is a
// 24-byte header and a body:
//
//	offset  size  field
//	0       4     magic 0x1ea752c3 (bytes c3 52 a7 1e)
//	4       4     body length n (at most 1 GiB)
//	8       8     group: log offset of the first frame of the commit group
//	              (the single write) this frame was written in
//	16      4     CRC-32C (Castagnoli) of the body
//	20      4     CRC-32C of header bytes 0-19
//	24      n     body
//
// The body is:
//
//	kind     1 byte: 1 create, 2 append, 3 lease, 4 delete
//	run ID   uvarint length + bytes
//	seq      uvarint: sequence of the frame's first record (create: 1,
//	         append: Batch.Expected+1, lease and delete: 0)
//	count    uvarint: number of records
//	records  count times: uvarint length + bytes
//	state    uvarint length + JSON: the RunInfo without LastSeq and Lease
//	         (create), the new Meta (append), or the new Lease (lease);
//	         empty (delete)
//
// One Create, one Append (records and Meta together), one lease change or
// one Delete is exactly one frame, so it is atomic: after a crash the frame
// is either whole, with valid checksums, or treated as torn. The index is a fold
// over the frames (LastSeq counts the records; Meta and Lease are the last
// ones written), so the index and the records can never disagree. In
// memory, the index locates each record-carrying frame, so Read(from) reads
// only the frames at or after from, whatever the run's history. A delete
// frame removes the run from the index (a later create of the same ID starts
// a new run); the deleted run's frames keep their place in the log, which
// grows with every change until File.Compact rewrites it with the live runs
// only (when no other open of the directory exists).
//
// # File: index checkpoint
//
// Opening a store rebuilds the index from the log. To avoid reading the
// whole log every time, Close (when the log grew) and an open that read
// more than 1 MiB of log save the index as of the log's end in ratchet.idx
// (write to a temp file, fsync, rename, fsync the directory); an open loads
// it and reads only the log after it. The checkpoint carries its own
// CRC-32C and a CRC-32C of the 4 KiB of log before the offset it covers; if
// either fails, or the log is shorter, or the log after it does not follow
// from it, the checkpoint is ignored (and a warning logged) and the whole
// log is read. It is only a cache: the log is the truth. Frames the
// checkpoint covers are verified when Read reads them rather than at open;
// FileOptions.VerifyLog makes an open read and verify the whole log.
//
// # File: durability and recovery
//
// Append, Create and the lease methods return only after their frame is
// written and fdatasync'd (and the directory fsync'd when the log was
// created). Frames are checksummed when first read into the index and again
// whenever Read reads them.
//
// Integrity problems are loud, never silent:
//
//   - Missing data. When the index checkpoint (which covers only
//     acknowledged frames) shows the log was longer than it is, the log
//     was truncated or replaced: NewFile fails with a *MissingDataError
//     (wrapping ErrCorrupt) that names the runs whose records are gone,
//     and changes nothing. ratchet salvage saves what is left.
//   - Torn tail. A bad frame (short, bad magic, bad checksum) with no
//     valid frame after it is the torn tail of a write that was never
//     acknowledged (its fsync had not returned): it is cut off and
//     reported through FileOptions.OnRecover and an error-level log (and
//     the CLI's stderr). So are zeros followed only by frames of their own
//     commit group (a write torn unevenly: later pages on disk, earlier
//     ones not). A bit flipped inside the very last frame cannot be told
//     from a torn write and is cut too, and reported.
//   - Damage. A bad frame followed by a valid one is damage: the run it
//     belongs to (the run ID its body still names, or the run whose
//     records then skip a sequence or that was never created) is marked
//     damaged. Its records before the damage stay readable: Read returns
//     them with a *DamagedError (wrapping ErrDamaged and ErrCorrupt), Get
//     returns the run's index entry as of then with the same error, every
//     change to it is refused, and List leaves it out. Every other run
//     opens and works; the frames after the damage, of any commit group,
//     are kept. File.Damage reports all damage found, ratchet verify
//     prints it, and no index checkpoint is written while there is any.
//     A frame the checkpoint covers is checked when Read reads it; damage
//     found then marks the run the same way, and removes the checkpoint
//     so that the next open scans the log.
//   - A valid frame that does not follow from the index (a second
//     creation, a gap in sequences, bad JSON) damages its run the same
//     way. A log whose own header is bad is ErrCorrupt.
//   - A log, index or lock file that is a symbolic link (or not a regular
//     file) is refused with ErrUnsafeFile; a store directory writable by
//     its group or by everyone gets a warning (the store creates its
//     directories 0700).
//
// # File: I/O failures
//
// When a write of the log fails (EIO, ENOSPC, a short write), the store
// undoes it: it cuts the log back to where the write began and
// fdatasyncs that; the call returns the error (wrapping the cause, such as
// syscall.ENOSPC) and the store goes on, so a disk that fills up and is
// freed again needs no reopen. When an fdatasync fails (or the undo does),
// the store cannot know what reached the disk: after a failed fsync the
// kernel may drop the dirty pages and mark them clean, so a retry that
// succeeds proves nothing. So that call returns an error wrapping
// ErrFailed and the cause, and every later Create, Append, Delete, lease
// change and Compact returns ErrFailed without trying, until the store is
// closed and opened again; reads keep serving what was acknowledged. The
// reopened store reads what really is on disk: every acknowledged frame is
// there, and the failed call's frame, never acknowledged, is there whole
// or not at all.
//
// # File: read-only opens
//
// FileOptions.ReadOnly opens a store without creating, writing, cutting,
// removing or locking anything (but a shared lock of ratchet.open when the
// file is readable, so that Compact waits): it works for a user who may
// only read the directory, and never changes what it inspects. A torn tail
// is reported and left in place; every change returns ErrReadOnly. The
// CLI's runs, show, tail and verify open stores this way.
//
// # File: several processes
//
// Several processes on one machine may open one directory. Each change is
// made under an exclusive flock of ratchet.lock, held for the catch-up,
// write and fsync of a commit group: the leader first reads the frames
// other processes appended since it last looked (from its known end to the
// file's current end), then checks every request (Expected against the
// run's LastSeq, Fence and lease rules) against that up-to-date index, then
// writes. So a stale writer in any process gets ErrConflict, and the log
// is never interleaved. Readers check the log's size (lseek) and catch up
// (under the same lock) only when it grew past what their process wrote. A process that
// dies while holding the lock releases it; the next process to take it cuts
// the torn tail off.
//
// Lock waits honour contexts. The lock file is taken with non-blocking
// flock attempts and a backoff (up to 20ms) between them, and this
// process's own I/O mutex is context-aware, so a process that holds the
// lock and stops (SIGSTOP, a debugger, a hung disk) cannot make a call
// wait past its context's deadline: Append, Create, Delete and the lease
// methods return the context's error (nothing written), and so do Get,
// Read and List when the log grew and they must catch up first (when it
// did not, they need no lock and answer at once). A caller without a
// deadline waits until the holder continues or dies. What a stopped
// holder does block: NewFile (an open takes the lock to read the log;
// read-only opens do not), and Compact; Close skips its checkpoint rather
// than wait. A holder that dies releases the lock at once.
//
// # File: limits
//
// A bit flip in the last frame of the log is indistinguishable from a torn
// write and is cut (reported); damage to a frame's run ID may attribute
// the damage to the wrong run, or to none (reported as unattributed), and
// a damaged run's lost records cannot be recovered by the store: salvage
// copies what is intact. The log grows with every change, deletes included, until File.Compact
// rewrites it with the live runs; Compact needs the directory to itself
// (ErrBusy otherwise), so it belongs to a maintenance window. The index is
// kept in memory: the RunInfo of every live run plus 24 bytes for every
// frame that carries records.
package store
