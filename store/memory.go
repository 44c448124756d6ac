package store

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MaxRecordSizeDefault is the default limit on the size of one record, in
// bytes, of the stores in this package (MemoryOptions.MaxRecordSize and
// FileOptions.MaxRecordSize).
const MaxRecordSizeDefault = 4 << 20

// MemoryOptions configures a Memory store. The zero value (or a nil
// *MemoryOptions) gives the defaults.
type MemoryOptions struct {
	// MaxRecordSize is the largest record, in bytes, that Create and Append
	// accept; larger ones get ErrTooLarge. Defaults to 4 MiB
	// (MaxRecordSizeDefault) when zero or negative.
	MaxRecordSize int
}

// Memory is a Store that keeps everything in memory, for tests and for
// embedded use where runs need not survive the process.
//
// It is safe for concurrent use. It copies every byte slice on the way in
// and on the way out, so callers never alias stored data. The zero value is
// not usable; call NewMemory.
type Memory struct {
	maxRecord int

	// shards map run IDs to runs, by a hash of the ID: Create write-locks
	// one shard only, so lookups of other runs do not queue behind it.
	// Runs are added, never removed. Each run has its own lock, so that
	// writers of different runs do not queue on one another.
	shards [memShards]memShard
}

// memShards is the number of shards of a Memory store's run map.
const memShards = 64

// memShard is one shard of a Memory store's run map.
type memShard struct {
	mu   sync.RWMutex
	runs map[string]*memRun
	_    [40]byte // a cache line each
}

var memSeed = maphash.MakeSeed()

func (m *Memory) shard(runID string) *memShard {
	return &m.shards[maphash.String(memSeed, runID)%memShards]
}

// memRun is one run of a Memory store.
type memRun struct {
	mu      sync.Mutex
	info    RunInfo  // guarded by mu
	records [][]byte // records[i] has sequence i+1; guarded by mu
	// tail is the unused end of the chunk the run's records are copied
	// into: records are small, so an Append copies them with no
	// allocation most of the time. Guarded by mu.
	tail  []byte
	chunk int // size of the chunk tail is the end of
	size  int // bytes in records
	// deleted is set by Delete, for callers that found the run before it
	// left the map. Guarded by mu.
	deleted bool
}

// Chunk sizes for memRun.tail: a run's first chunk holds its first
// records exactly, later ones double (from minChunk) up to maxChunk, and
// are never smaller than the batch they are made for.
const (
	minChunk = 512
	maxChunk = 16 << 10
)

// add copies records to the run's chunk (a chunk of their exact size when
// first) and appends them. Called with run.mu held.
func (run *memRun) add(records [][]byte, first bool) {
	n := 0
	for _, r := range records {
		n += len(r)
	}
	run.size += n
	if cap(run.tail) < n {
		run.chunk = max(min(max(2*run.chunk, minChunk), maxChunk), n)
		if first {
			run.chunk = n
		}
		run.tail = make([]byte, 0, run.chunk)
	}
	for _, r := range records {
		start := len(run.tail)
		run.tail = append(run.tail, r...)
		// Capacity ends with the record: no append to it reaches the next.
		run.records = append(run.records, run.tail[start:len(run.tail):len(run.tail)])
	}
	run.tail = run.tail[len(run.tail):]
}

// pack copies the run's records into one allocation of their exact size
// and drops its chunks, whose unused ends (up to half a chunk) would
// otherwise stay allocated as long as the run. A later append starts a new
// chunk. Called with run.mu held.
func (run *memRun) pack() {
	buf := make([]byte, 0, run.size)
	records := make([][]byte, len(run.records))
	for i, r := range run.records {
		start := len(buf)
		buf = append(buf, r...)
		records[i] = buf[start:len(buf):len(buf)]
	}
	run.records, run.tail, run.chunk = records, nil, 0
}

var (
	_ Store   = (*Memory)(nil)
	_ Leaser  = (*Memory)(nil)
	_ Deleter = (*Memory)(nil)
)

// NewMemory returns an empty Memory store configured by opts; nil opts
// means the defaults.
func NewMemory(opts *MemoryOptions) *Memory {
	m := &Memory{maxRecord: MaxRecordSizeDefault}
	for i := range m.shards {
		m.shards[i].runs = make(map[string]*memRun)
	}
	if opts != nil && opts.MaxRecordSize > 0 {
		m.maxRecord = opts.MaxRecordSize
	}
	return m
}

// MaxRecordSize returns the size in bytes of the largest record Create and
// Append accept (MemoryOptions.MaxRecordSize).
func (m *Memory) MaxRecordSize() int { return m.maxRecord }

// Create implements Store.Create.
func (m *Memory) Create(ctx context.Context, info RunInfo, records [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateID(info.ID); err != nil {
		return err
	}
	if err := checkRecords("create", info.ID, records, m.maxRecord); err != nil {
		return err
	}
	run := &memRun{info: newRunInfo(info, len(records))}
	// Room for a short run's records: growing from a few cost a copy
	// every other step.
	run.records = make([][]byte, 0, max(8, len(records)))
	run.add(records, true)
	sh := m.shard(info.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.runs[info.ID]; ok {
		return errorf(ErrExists, "create %q", info.ID)
	}
	sh.runs[info.ID] = run
	return nil
}

// Append implements Store.Append.
func (m *Memory) Append(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateID(b.RunID); err != nil {
		return err
	}
	if err := checkRecords("append to", b.RunID, b.Records, m.maxRecord); err != nil {
		return err
	}
	run, err := m.lockRun("append to", b.RunID)
	if err != nil {
		return err
	}
	defer run.mu.Unlock()
	if b.Expected != run.info.LastSeq {
		return errorf(ErrConflict, "append to %q: expected last seq %d, it is %d", b.RunID, b.Expected, run.info.LastSeq)
	}
	if err := checkFence(b.RunID, run.info.Lease, b.Fence); err != nil {
		return err
	}
	run.add(b.Records, false)
	run.info.LastSeq += uint64(len(b.Records))
	meta := normMeta(b.Meta)
	if meta.Status != run.info.Meta.Status && cap(run.tail)*4 > run.size {
		// A change of status (a run coming to rest, say) is rare: a run
		// whose unused chunk room is more than a quarter of its records'
		// size (a short run, the usual case) is packed, so that it does
		// not keep that room while it rests.
		run.pack()
	}
	run.info.Meta = meta
	return nil
}

// Read implements Store.Read.
func (m *Memory) Read(ctx context.Context, runID string, from uint64) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ValidateID(runID); err != nil {
		return nil, err
	}
	from = max(from, 1)
	run, err := m.lockRun("read", runID)
	if err != nil {
		return nil, err
	}
	defer run.mu.Unlock()
	if from > uint64(len(run.records)) {
		return []Record{}, nil
	}
	out := make([]Record, 0, uint64(len(run.records))-from+1)
	for i := from - 1; i < uint64(len(run.records)); i++ {
		out = append(out, Record{Seq: i + 1, Data: clone(run.records[i])})
	}
	return out, nil
}

// Get implements Store.Get.
func (m *Memory) Get(ctx context.Context, runID string) (RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return RunInfo{}, err
	}
	if err := ValidateID(runID); err != nil {
		return RunInfo{}, err
	}
	run, err := m.lockRun("get", runID)
	if err != nil {
		return RunInfo{}, err
	}
	defer run.mu.Unlock()
	return cloneInfo(run.info), nil
}

// List implements Store.List.
func (m *Memory) List(ctx context.Context, q Query) ([]RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	infos := []RunInfo{}
	var runs []*memRun
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		runs = runs[:0]
		for _, run := range sh.runs {
			runs = append(runs, run)
		}
		sh.mu.RUnlock()
		for _, run := range runs {
			run.mu.Lock()
			if !run.deleted && q.Matches(run.info) {
				infos = append(infos, cloneInfo(run.info))
			}
			run.mu.Unlock()
		}
	}
	sortInfos(infos)
	return limitInfos(infos, q), nil
}

// AcquireLease implements Leaser.AcquireLease.
func (m *Memory) AcquireLease(ctx context.Context, runID, owner string, now, until time.Time) (Lease, error) {
	return m.updateLease(ctx, "acquire lease on", runID, func(cur Lease) (Lease, error) {
		return acquireLease(runID, cur, owner, now, until)
	})
}

// RenewLease implements Leaser.RenewLease.
func (m *Memory) RenewLease(ctx context.Context, runID string, l Lease, until time.Time) (Lease, error) {
	return m.updateLease(ctx, "renew lease on", runID, func(cur Lease) (Lease, error) {
		return renewLease(runID, cur, l, until)
	})
}

// ReleaseLease implements Leaser.ReleaseLease.
func (m *Memory) ReleaseLease(ctx context.Context, runID string, l Lease) error {
	_, err := m.updateLease(ctx, "release lease on", runID, func(cur Lease) (Lease, error) {
		return releaseLease(runID, cur, l)
	})
	return err
}

// updateLease replaces the run's lease with next(current lease).
func (m *Memory) updateLease(ctx context.Context, op, runID string, next func(Lease) (Lease, error)) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	if err := ValidateID(runID); err != nil {
		return Lease{}, err
	}
	run, err := m.lockRun(op, runID)
	if err != nil {
		return Lease{}, err
	}
	defer run.mu.Unlock()
	l, err := next(run.info.Lease)
	if err != nil {
		return Lease{}, err
	}
	run.info.Lease = l
	return l, nil
}

// run returns the run with the given ID or ErrNotFound.
// lockRun returns run runID with its mu locked, or ErrNotFound (for op)
// when there is no such run or it was deleted.
func (m *Memory) lockRun(op, runID string) (*memRun, error) {
	run, err := m.run(op, runID)
	if err != nil {
		return nil, err
	}
	run.mu.Lock()
	if run.deleted {
		run.mu.Unlock()
		return nil, notFound(op, runID)
	}
	return run, nil
}

// Delete implements Deleter.Delete.
func (m *Memory) Delete(ctx context.Context, runID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateID(runID); err != nil {
		return err
	}
	sh := m.shard(runID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	run, ok := sh.runs[runID]
	if !ok {
		return notFound("delete", runID)
	}
	// A writer that found the run before it left the map sees it deleted.
	run.mu.Lock()
	run.deleted = true
	run.mu.Unlock()
	delete(sh.runs, runID)
	return nil
}

func (m *Memory) run(op, runID string) (*memRun, error) {
	sh := m.shard(runID)
	sh.mu.RLock()
	run, ok := sh.runs[runID]
	sh.mu.RUnlock()
	if !ok {
		return nil, notFound(op, runID)
	}
	return run, nil
}

// clone returns a copy of b that is never nil.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
