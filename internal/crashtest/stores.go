package main

import (
	"context"
	"sync"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// fullStore is a store with every optional interface, as the File store
// the crash suite runs on: the wrappers keep its leases and deletes.
type fullStore interface {
	store.Store
	store.Leaser
	store.Deleter
}

// ackFirst is a deliberately broken store, for proving that the crash
// suite can fail: Append acknowledges a batch before writing it. The batch
// is written when the next call of any method comes, so the process sees
// its own writes, but a crash between the acknowledgement and that call
// loses an acknowledged batch.
type ackFirst struct {
	fullStore
	mu      sync.Mutex
	pending *store.Batch
}

// flush writes the pending batch; mu is held.
func (s *ackFirst) flush(ctx context.Context) error {
	if s.pending == nil {
		return nil
	}
	b := *s.pending
	s.pending = nil
	return s.fullStore.Append(ctx, b)
}

func (s *ackFirst) Append(ctx context.Context, b store.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return err
	}
	cp := b
	cp.Records = make([][]byte, len(b.Records))
	for i, r := range b.Records {
		cp.Records[i] = append([]byte(nil), r...)
	}
	s.pending = &cp
	return nil
}

func (s *ackFirst) Create(ctx context.Context, info store.RunInfo, records [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.fullStore.Create(ctx, info, records)
}

func (s *ackFirst) Read(ctx context.Context, runID string, from uint64) ([]store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	return s.fullStore.Read(ctx, runID, from)
}

func (s *ackFirst) Get(ctx context.Context, runID string) (store.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return store.RunInfo{}, err
	}
	return s.fullStore.Get(ctx, runID)
}

func (s *ackFirst) List(ctx context.Context, q store.Query) ([]store.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	return s.fullStore.List(ctx, q)
}

func (s *ackFirst) AcquireLease(ctx context.Context, runID, owner string, now, until time.Time) (store.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return store.Lease{}, err
	}
	return s.fullStore.AcquireLease(ctx, runID, owner, now, until)
}

func (s *ackFirst) RenewLease(ctx context.Context, runID string, l store.Lease, until time.Time) (store.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return store.Lease{}, err
	}
	return s.fullStore.RenewLease(ctx, runID, l, until)
}

func (s *ackFirst) ReleaseLease(ctx context.Context, runID string, l store.Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.fullStore.ReleaseLease(ctx, runID, l)
}

func (s *ackFirst) Delete(ctx context.Context, runID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		return err
	}
	return s.fullStore.Delete(ctx, runID)
}

// Close writes the pending batch: without a crash, nothing is lost.
func (s *ackFirst) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flush(context.Background())
}
