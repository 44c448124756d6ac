package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// Group commit, leader/follower style. A caller encodes its frame body in
// its own goroutine and queues a request. If no commit is in progress, the
// caller becomes the leader: it takes everything queued, locks the store,
// catches up on what other processes wrote, checks each request against the
// index (sequence, fence, lease rules), writes all accepted frames with one
// write and one fsync, updates the index and wakes the callers. Meanwhile
// new requests queue up; when the leader is done it promotes the caller of
// the first one to lead the next group, and returns. So a lone append costs
// no goroutine switch, concurrent appends share fsyncs, a caller leads at
// most one group (one that holds its own request), and the store runs no
// goroutines of its own.

// groupBytesMax bounds the frame bytes of one group commit (a single large
// request may exceed it and then goes alone).
const groupBytesMax = 8 << 20

// opKind says what a request asks for.
type opKind int

// The kinds of request.
const (
	opCreate opKind = iota
	opAppend
	opAcquire
	opRenew
	opRelease
	opDelete
)

// The states of a request. Transitions: pending to cancelled (by its
// caller), pending to promoted (by a leader), pending or promoted to claimed
// (by the leader committing it).
const (
	reqPending   int32 = iota // queued
	reqCancelled              // given up by its caller: skipped
	reqPromoted               // its caller must lead the next group
	reqClaimed                // taken into a group: its caller waits for done
)

// request is one change queued for a group commit.
type request struct {
	op    opKind
	runID string

	// create and append: the encoded frame body and its checksum.
	body    []byte
	bodyCRC uint32
	nrec    int
	info    RunInfo // create: the new index entry
	meta    Meta    // append: the new Meta
	// append: the batch's checks.
	expected, fence uint64

	// lease changes: the arguments; lease is also the result.
	owner      string
	now, until time.Time
	lease      Lease

	state   atomic.Int32
	promote chan struct{} // receives once when promoted
	done    chan struct{} // closed when err (and lease) are set
	err     error
}

// setBody encodes fr as r's frame body, or returns ErrTooLarge if it would
// not fit in a frame.
func (r *request) setBody(fr frame) error {
	size := bodySize(fr.runID, fr.records, fr.state)
	if size > maxFrameBody {
		return errorf(ErrTooLarge, "%s %q: batch of %d records is %d bytes encoded, limit %d", r.op, fr.runID, len(fr.records), size, maxFrameBody)
	}
	r.body = appendBody(make([]byte, 0, size), fr)
	r.bodyCRC = crc(r.body)
	return nil
}

// submit queues r and waits for its outcome, leading a group commit when
// it is r's turn. If ctx ends before a group takes r, r is dropped and
// ctx's error returned; once taken (or promoted), r's outcome is waited for
// (at most two group commits).
func (f *File) submit(ctx context.Context, r *request) error {
	if err := f.enter(ctx); err != nil {
		return err
	}
	defer f.leave()
	if f.readOnly {
		return fmt.Errorf("%w: %s %q", ErrReadOnly, r.op, r.runID)
	}
	r.done = make(chan struct{})
	r.promote = make(chan struct{}, 1)
	f.qmu.Lock()
	f.queue = append(f.queue, r)
	lead := !f.leading
	f.leading = true
	f.qmu.Unlock()
	if lead {
		if err := f.lead(ctx, r); err != nil {
			return fmt.Errorf("store: %s %q: %w", r.op, r.runID, err)
		}
	}
	ctxDone := ctx.Done()
	for {
		select {
		case <-r.done:
			return r.err
		case <-r.promote:
			if err := f.lead(ctx, r); err != nil {
				return fmt.Errorf("store: %s %q: %w", r.op, r.runID, err)
			}
		case <-ctxDone:
			if r.state.CompareAndSwap(reqPending, reqCancelled) {
				return ctx.Err()
			}
			ctxDone = nil // promoted or claimed: see it through
		}
	}
}

// lead commits one group of queued requests (self's among them), then
// promotes the next waiting request's caller to lead, or marks that nobody
// leads. If ctx (self's caller's) ends while the leader waits for the
// store's locks, nothing of the group was claimed: self is cancelled, the
// others go back to the head of the queue for the next leader, and lead
// returns why.
func (f *File) lead(ctx context.Context, self *request) error {
	reqs := f.takeQueue()
	err := f.commit(ctx, reqs)
	f.qmu.Lock()
	defer f.qmu.Unlock()
	if err != nil {
		self.state.CompareAndSwap(reqPending, reqCancelled)
		self.state.CompareAndSwap(reqPromoted, reqCancelled)
		var back []*request
		for _, r := range reqs {
			if r != self && r.state.Load() == reqPending {
				back = append(back, r)
			}
		}
		f.queue = append(back, f.queue...)
	}
	f.promoteNext()
	return err
}

// promoteNext promotes the first waiting request's caller to lead the next
// group, or marks that nobody leads. f.qmu must be held.
func (f *File) promoteNext() {
	for len(f.queue) > 0 {
		next := f.queue[0]
		if next.state.CompareAndSwap(reqPending, reqPromoted) {
			next.promote <- struct{}{}
			return
		}
		f.queue = f.queue[1:] // cancelled
	}
	f.queue = nil
	f.leading = false
}

// takeQueue removes and returns the queued requests, up to groupBytesMax
// bytes of frame bodies (at least one request).
func (f *File) takeQueue() []*request {
	f.qmu.Lock()
	defer f.qmu.Unlock()
	n, size := 0, 0
	for n < len(f.queue) && (n == 0 || size+len(f.queue[n].body) <= groupBytesMax) {
		size += len(f.queue[n].body)
		n++
	}
	reqs := f.queue[:n:n]
	f.queue = f.queue[n:]
	return reqs
}

// commit commits one group of requests and answers each that is not
// cancelled. If ctx ends while it waits for this process's I/O mutex or
// the lock file, it returns why, having claimed and answered nothing.
func (f *File) commit(ctx context.Context, reqs []*request) error {
	var claimed []*request
	defer func() {
		for _, r := range claimed {
			close(r.done)
		}
	}()
	// claim takes the requests whose callers still wait; from then on
	// they wait for the outcome.
	claim := func() {
		for _, r := range reqs {
			if r.state.CompareAndSwap(reqPending, reqClaimed) || r.state.CompareAndSwap(reqPromoted, reqClaimed) {
				claimed = append(claimed, r)
			}
		}
		reqs = nil
	}
	failAll := func(err error) {
		claim()
		for _, r := range claimed {
			r.err = err
		}
	}

	if err := f.ioMu.Lock(ctx); err != nil {
		return err
	}
	defer f.ioMu.Unlock()
	if f.failed != nil {
		failAll(f.failed)
		return nil
	}
	if err := lockFile(ctx, f.lock); err != nil {
		if ctx.Err() != nil {
			return err
		}
		failAll(fmt.Errorf("store: %w", err))
		return nil
	}
	defer unlockFile(f.lock)
	if err := f.catchUp(); err != nil {
		failAll(err)
		return nil
	}

	claim()
	g := &group{start: f.end, buf: f.buf[:0], runs: make(map[string]*groupRun)}
	var accepted []*request
	for _, r := range claimed {
		if r.err = f.addToGroup(g, r); r.err == nil {
			accepted = append(accepted, r)
		}
	}
	if len(g.buf) == 0 {
		return nil
	}
	f.mu.Lock()
	f.writing = f.end + int64(len(g.buf))
	f.mu.Unlock()
	err := f.write(g.buf, g.start)
	f.mu.Lock()
	if err == nil {
		g.apply(f.runs)
		f.end = f.writing
	}
	f.writing = f.end
	f.mu.Unlock()
	if err != nil {
		for _, r := range accepted {
			r.err = err
		}
	}
	if cap(g.buf) <= 2*groupBytesMax {
		f.buf = g.buf
	}
	return nil
}

// write writes buf at off and makes it durable. On failure the store
// refuses every later change (ErrFailed) until it is reopened: after a
// failed write or fsync the kernel may have dropped or kept any of the
// dirty pages and marked them clean, so neither a retry nor what reads
// show proves what is on disk; only a reopen, which reads the file, does.
// It still tries to cut the log back to off, so that the bytes of the
// failed group, never acknowledged, are not left for a reopen to find.
func (f *File) write(buf []byte, off int64) error {
	_, err := f.wal.WriteAt(buf, off)
	if err == nil {
		err = f.syncLog()
	}
	if err == nil {
		return nil
	}
	_ = f.wal.Truncate(off)
	f.fail(fmt.Errorf("write %s: %w", f.path, err))
	return f.failed
}

// fail makes the store refuse every later change with an error wrapping
// ErrFailed and cause. f.ioMu must be held.
func (f *File) fail(cause error) {
	if f.failed == nil {
		f.failed = fmt.Errorf("%w: %w", ErrFailed, cause)
	}
}

// syncLog makes the log's data durable (unless the test-only noSync is set).
func (f *File) syncLog() error {
	if f.noSync {
		return nil
	}
	return f.wal.Datasync()
}

// group is one group commit being assembled.
type group struct {
	start int64  // log offset of the group's first frame
	buf   []byte // the group's frames
	runs  map[string]*groupRun
}

// groupRun is the state of one run as the group's requests change it.
type groupRun struct {
	base    *fileRun // the run in the index; nil when the group creates it
	info    RunInfo
	entries []walEntry // entries the group adds
	deleted bool       // the group deletes the run (and has not created it again)
}

// run returns the group's view of a run, or nil if it does not exist.
func (g *group) run(f *File, runID string) *groupRun {
	if gr := g.runs[runID]; gr != nil {
		if gr.deleted {
			return nil
		}
		return gr
	}
	f.mu.RLock()
	base := f.runs[runID]
	f.mu.RUnlock()
	if base == nil {
		return nil
	}
	gr := &groupRun{base: base, info: base.info}
	g.runs[runID] = gr
	return gr
}

// addToGroup checks r against the group's view of its run and, if it
// passes, adds r's frame to the group and applies r to that view.
func (f *File) addToGroup(g *group, r *request) error {
	gr := g.run(f, r.runID)
	if gr != nil && gr.base != nil && gr.base.damage != nil {
		return damagedErr(r.op.String(), gr.base)
	}
	if r.op == opCreate {
		if gr != nil {
			return errorf(ErrExists, "create %q", r.runID)
		}
		gr = &groupRun{info: r.info}
		gr.info.LastSeq = 0
		g.runs[r.runID] = gr
	} else if gr == nil {
		return notFound(r.op.String(), r.runID)
	}

	seq := gr.info.LastSeq + 1
	switch r.op {
	case opCreate:
	case opDelete:
		// Whatever the group did to the run before is undone with it.
		*gr = groupRun{deleted: true}
	case opAppend:
		if r.expected != gr.info.LastSeq {
			return errorf(ErrConflict, "append to %q: expected last seq %d, it is %d", r.runID, r.expected, gr.info.LastSeq)
		}
		if err := checkFence(r.runID, gr.info.Lease, r.fence); err != nil {
			return err
		}
		gr.info.Meta = r.meta
	case opAcquire, opRenew, opRelease:
		var l Lease
		var err error
		switch r.op {
		case opAcquire:
			l, err = acquireLease(r.runID, gr.info.Lease, r.owner, r.now, r.until)
		case opRenew:
			l, err = renewLease(r.runID, gr.info.Lease, r.lease, r.until)
		default:
			l, err = releaseLease(r.runID, gr.info.Lease, r.lease)
		}
		if err != nil {
			return err
		}
		state, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("store: %s %q: %w", r.op, r.runID, err)
		}
		if err := r.setBody(frame{kind: kindLease, runID: r.runID, state: state}); err != nil {
			return err
		}
		gr.info.Lease, r.lease = l, l
	}

	off := g.start + int64(len(g.buf))
	g.buf = appendFrame(g.buf, g.start, r.body, r.bodyCRC)
	if r.nrec > 0 {
		gr.entries = append(gr.entries, walEntry{seq: seq, off: off, size: uint32(frameHeaderSize + len(r.body))})
		gr.info.LastSeq += uint64(r.nrec)
	}
	return nil
}

// apply writes the group's changes into the index.
func (g *group) apply(runs map[string]*fileRun) {
	for id, gr := range g.runs {
		if gr.deleted {
			delete(runs, id)
			continue
		}
		if gr.base == nil {
			runs[id] = &fileRun{info: gr.info, entries: gr.entries}
			continue
		}
		gr.base.info = gr.info
		gr.base.entries = append(gr.base.entries, gr.entries...)
	}
}

// String returns the operation's name for error messages.
func (op opKind) String() string {
	switch op {
	case opCreate:
		return "create"
	case opAppend:
		return "append to"
	case opAcquire:
		return "acquire lease on"
	case opRenew:
		return "renew lease on"
	case opDelete:
		return "delete"
	default:
		return "release lease on"
	}
}
