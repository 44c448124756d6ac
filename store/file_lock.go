package store

import (
	"context"
	"fmt"
	"time"
)

// Lock waits that honour contexts. Another process that holds the store's
// lock file and stops (SIGSTOP, a debugger, a hung disk) must not stall
// this process's calls past their deadlines: the lock file is taken with
// non-blocking flock attempts and a capped backoff between them, and the
// in-process mutex in front of it (ioMu) is a channel, so that a caller
// waiting on either gives up when its context ends.

// lockBackoffMin and lockBackoffMax bound the wait between two attempts
// at a busy lock file.
const (
	lockBackoffMin = 500 * time.Microsecond
	lockBackoffMax = 20 * time.Millisecond
)

// ctxMutex is a mutex whose Lock gives up when a context ends. The zero
// value is not usable: make it with newCtxMutex.
type ctxMutex chan struct{}

// newCtxMutex returns an unlocked ctxMutex.
func newCtxMutex() ctxMutex { return make(ctxMutex, 1) }

// Lock takes m, or returns ctx's error if ctx ends first.
func (m ctxMutex) Lock(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	default:
	}
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock releases m.
func (m ctxMutex) Unlock() { <-m }

// retryLock calls try until it takes the lock (true) or fails, waiting a
// growing backoff between attempts, and returns ctx's error if ctx ends
// first.
func retryLock(ctx context.Context, name string, try func() (bool, error)) error {
	wait := lockBackoffMin
	var timer *time.Timer
	for {
		ok, err := try()
		if err != nil || ok {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lock on %s, held by another process: %w", name, ctx.Err())
		}
		wait = min(2*wait, lockBackoffMax)
	}
}
