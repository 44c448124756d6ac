package ratchet

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is context.WithDeadlineCause(parent, deadline, cause), made
// lazily. The standard context costs, on every call, a timer, a cancelCtx
// and a registration with the parent; a step sets three deadlines (step,
// model call, tool call) and most are never waited on: a tool that never
// selects on Done, a scripted model. deadlineCtx makes the standard
// context (inner) only when Done is asked for, when Value is asked for a
// key it does not know while the context is over (context.Cause looks up
// the standard cancellation state through Value), or when Err finds the
// deadline passed. Until then Err compares the deadline with the
// monotonic clock and Value reads the parent, which is what the standard
// context would answer.
//
// A deadlineCtx whose parent is itself an unmade deadlineCtx with a later
// deadline makes its inner context over that parent's parent: the
// parent's own timer could not fire first, and the runtime always
// cancels a call's context before its step's. A model call made over a
// network thus costs one timer, not two.
//
// It can carry the idempotency key of a tool call, which saves the
// context.WithValue the key would otherwise take.
type deadlineCtx struct {
	parent   context.Context // read by Err and Value until inner is made
	base     context.Context // what inner is made over
	deadline time.Time       // with a monotonic reading
	cause    error
	key      string // idempotency key, when hasKey
	hasKey   bool

	mu       sync.Mutex
	inner    context.Context
	stop     context.CancelFunc
	canceled bool // the CancelFunc ran before inner was made
}

// withDeadline returns a context that ends d after now (a reading of
// time.Now) with cause (nil: context.DeadlineExceeded), or nil when parent
// ends no later: parent's deadline then ends the work first either way, as
// parent's error. Its cancel method must be called when the work it bounds
// is done.
//
// The context is made in c (which must be unused), or allocated when c is
// nil.
func withDeadline(c *deadlineCtx, parent context.Context, now time.Time, d time.Duration, cause error) *deadlineCtx {
	dl := now.Add(d)
	if pdl, ok := parent.Deadline(); ok && !pdl.After(dl) {
		return nil
	}
	if c == nil {
		c = new(deadlineCtx)
	}
	c.init(parent, dl, cause)
	return c
}

// stepDeadlines holds the deadline contexts a step usually needs, in one
// allocation: the step's, its first model call attempt's and its lone
// tool call's first attempt's. Other calls allocate their own.
type stepDeadlines struct {
	step, model, tool deadlineCtx
	// modelTaken and toolTaken are set when a slot was given out; only
	// the goroutine that drives the step reads or sets them.
	modelTaken, toolTaken bool
}

// takeModel returns the model call slot the first time, nil after.
func (d *stepDeadlines) takeModel() *deadlineCtx {
	if d == nil || d.modelTaken {
		return nil
	}
	d.modelTaken = true
	return &d.model
}

// takeTool returns the tool call slot the first time, nil after.
func (d *stepDeadlines) takeTool() *deadlineCtx {
	if d == nil || d.toolTaken {
		return nil
	}
	d.toolTaken = true
	return &d.tool
}

func (c *deadlineCtx) init(parent context.Context, dl time.Time, cause error) {
	c.parent, c.base, c.deadline, c.cause = parent, parent, dl, cause
	if p, ok := parent.(*deadlineCtx); ok && !p.hasKey && p.deadline.After(dl) {
		p.mu.Lock()
		if p.inner == nil && !p.canceled {
			c.base = p.base
		}
		p.mu.Unlock()
	}
}

// cancel is the context's CancelFunc: it releases the timer, if one was
// made, and ends the context with context.Canceled.
func (c *deadlineCtx) cancel() {
	if time.Until(c.deadline) <= 0 {
		c.make() // it ended at its deadline, before this cancel
	}
	c.mu.Lock()
	stop := c.stop
	c.canceled = true
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// make returns the standard context, making it on first use.
func (c *deadlineCtx) make() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.inner != nil:
	case c.canceled:
		// Cancelled before its deadline could have ended it.
		c.inner, c.stop = context.WithCancel(c.base)
		c.stop()
	default:
		c.inner, c.stop = context.WithDeadlineCause(c.base, c.deadline, c.cause)
	}
	return c.inner
}

// made returns inner, or nil, and whether the context was cancelled.
func (c *deadlineCtx) made() (context.Context, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inner, c.canceled
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} { return c.make().Done() }

func (c *deadlineCtx) Err() error {
	inner, canceled := c.made()
	switch {
	case inner != nil:
		return inner.Err()
	case canceled:
		return context.Canceled
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if time.Until(c.deadline) <= 0 {
		return c.make().Err()
	}
	return nil
}

func (c *deadlineCtx) Value(key any) any {
	if _, ok := key.(idempotencyKeyType); ok && c.hasKey {
		return c.key
	}
	inner, canceled := c.made()
	if inner == nil && (canceled || time.Until(c.deadline) <= 0) {
		// Over: the standard context answers, with its cause.
		inner = c.make()
	}
	if inner != nil {
		return inner.Value(key)
	}
	return c.parent.Value(key)
}

func (c *deadlineCtx) String() string {
	return "ratchet.deadline(" + c.deadline.String() + ")"
}
