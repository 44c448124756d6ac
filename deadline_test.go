package ratchet

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var errTestCause = errors.New("test cause")

// Each case does the same things to a deadlineCtx and to the standard
// context.WithDeadlineCause, and expects the same answers.
func TestDeadlineCtxMatchesStandard(t *testing.T) {
	type ctxs struct {
		ctx    context.Context
		cancel func()
	}
	lazy := func(parent context.Context, d time.Duration) ctxs {
		dc := withDeadline(nil, parent, time.Now(), d, errTestCause)
		return ctxs{dc, dc.cancel}
	}
	std := func(parent context.Context, d time.Duration) ctxs {
		ctx, cancel := context.WithDeadlineCause(parent, time.Now().Add(d), errTestCause)
		return ctxs{ctx, cancel}
	}
	type answer struct {
		err, cause error
		done       bool
	}
	look := func(ctx context.Context, touchDone bool) answer {
		a := answer{err: ctx.Err(), cause: context.Cause(ctx)}
		if touchDone {
			select {
			case <-ctx.Done():
				a.done = true
			default:
			}
		} else {
			a.done = a.err != nil
		}
		return a
	}
	parentCause := errors.New("parent cause")
	cases := []struct {
		name string
		run  func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer
	}{
		{"running", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			p, pcancel := context.WithCancelCause(context.Background())
			defer pcancel(nil)
			c := mk(p, time.Hour)
			defer c.cancel()
			return look(c.ctx, touchDone)
		}},
		{"expired under a cancelCtx", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			p, pcancel := context.WithCancelCause(context.Background())
			defer pcancel(nil)
			c := mk(p, time.Millisecond)
			defer c.cancel()
			time.Sleep(5 * time.Millisecond)
			return look(c.ctx, touchDone)
		}},
		{"expired under Background", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			c := mk(context.Background(), time.Millisecond)
			defer c.cancel()
			time.Sleep(5 * time.Millisecond)
			return look(c.ctx, touchDone)
		}},
		{"parent cancelled", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			p, pcancel := context.WithCancelCause(context.Background())
			c := mk(p, time.Hour)
			defer c.cancel()
			pcancel(parentCause)
			return look(c.ctx, touchDone)
		}},
		{"cancelled", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			p, pcancel := context.WithCancelCause(context.Background())
			defer pcancel(nil)
			c := mk(p, time.Hour)
			c.cancel()
			return look(c.ctx, touchDone)
		}},
		{"expired then cancelled", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			c := mk(context.Background(), time.Millisecond)
			time.Sleep(5 * time.Millisecond)
			c.cancel()
			return look(c.ctx, touchDone)
		}},
		{"cancelled then expired", func(t *testing.T, mk func(context.Context, time.Duration) ctxs, touchDone bool) answer {
			c := mk(context.Background(), time.Millisecond)
			c.cancel()
			time.Sleep(5 * time.Millisecond)
			return look(c.ctx, touchDone)
		}},
	}
	for _, tc := range cases {
		for _, touch := range []bool{false, true} {
			want := tc.run(t, std, touch)
			got := tc.run(t, lazy, touch)
			if got != want {
				t.Errorf("%s (Done first: %v): got %+v, the standard context gives %+v", tc.name, touch, got, want)
			}
		}
	}
}

func TestDeadlineCtxDoneClosesAtDeadline(t *testing.T) {
	p, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	dc := withDeadline(nil, p, time.Now(), 20*time.Millisecond, errTestCause)
	defer dc.cancel()
	if d, ok := dc.Deadline(); !ok || d != dc.deadline {
		t.Fatalf("Deadline() = %v, %v", d, ok)
	}
	select {
	case <-dc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	if !errors.Is(dc.Err(), context.DeadlineExceeded) || context.Cause(dc) != errTestCause {
		t.Fatalf("Err %v, Cause %v", dc.Err(), context.Cause(dc))
	}
}

// Contexts derived from a deadlineCtx end with it, whether or not it was
// made before they were derived.
func TestDeadlineCtxChildren(t *testing.T) {
	dc := withDeadline(nil, context.Background(), time.Now(), 20*time.Millisecond, nil)
	defer dc.cancel()
	child, cancel := context.WithCancel(dc)
	defer cancel()
	fired := make(chan struct{})
	stop := context.AfterFunc(dc, func() { close(fired) })
	defer stop()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("child not cancelled at the parent's deadline")
	}
	<-fired
	if !errors.Is(context.Cause(child), context.DeadlineExceeded) {
		t.Fatalf("child cause %v", context.Cause(child))
	}
}

// A call's deadline under a step's: the call's inner context skips the
// step's (no second timer) but still ends with the step's parent, and at
// its own deadline.
func TestDeadlineCtxNested(t *testing.T) {
	root, rootCancel := context.WithCancelCause(context.Background())
	defer rootCancel(nil)
	step := withDeadline(nil, root, time.Now(), time.Hour, errStepTimeout)
	defer step.cancel()
	call := withDeadline(nil, step, time.Now(), time.Minute, nil)
	if call == nil || call.base != root {
		t.Fatalf("call context not made over the step's parent: %+v", call)
	}
	if withDeadline(nil, step, time.Now(), 2*time.Hour, nil) != nil {
		t.Fatal("a deadline later than the parent's made a context")
	}
	done := call.Done()
	if inner, _ := step.made(); inner != nil {
		t.Fatal("making the call's context made the step's")
	}
	cause := errors.New("root cancelled")
	rootCancel(cause)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("call not cancelled with the step's parent")
	}
	if context.Cause(call) != cause || !errors.Is(step.Err(), context.Canceled) {
		t.Fatalf("call cause %v, step err %v", context.Cause(call), step.Err())
	}
	call.cancel()

	// root is cancelled now: the step is over, and so is a call under it.
	short := withDeadline(nil, step, time.Now(), time.Minute, nil)
	defer short.cancel()
	if !errors.Is(short.Err(), context.Canceled) {
		t.Fatalf("call under a cancelled step: %v", short.Err())
	}
}

func TestDeadlineCtxValues(t *testing.T) {
	type k struct{}
	p := context.WithValue(context.Background(), k{}, "v")
	dc := withDeadline(nil, p, time.Now(), time.Hour, nil)
	dc.key, dc.hasKey = "run/1/0", true
	defer dc.cancel()
	if dc.Value(k{}) != "v" || IdempotencyKey(dc) != "run/1/0" {
		t.Fatalf("values %v %q", dc.Value(k{}), IdempotencyKey(dc))
	}
	dc.make()
	if dc.Value(k{}) != "v" || IdempotencyKey(dc) != "run/1/0" {
		t.Fatalf("values once made %v %q", dc.Value(k{}), IdempotencyKey(dc))
	}
}

func TestDeadlineCtxConcurrent(t *testing.T) {
	for range 50 {
		dc := withDeadline(nil, context.Background(), time.Now(), time.Millisecond, errTestCause)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				switch i {
				case 0:
					<-dc.Done()
				case 1:
					for dc.Err() == nil {
						time.Sleep(100 * time.Microsecond)
					}
				case 2:
					for context.Cause(dc) == nil {
						time.Sleep(100 * time.Microsecond)
					}
				case 3:
					dc.cancel()
				}
			})
		}
		wg.Wait()
		if dc.Err() == nil {
			t.Fatal("no error after cancel")
		}
	}
}
