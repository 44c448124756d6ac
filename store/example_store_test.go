package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// A run's life in a File store: create it, append a step with optimistic
// concurrency, lose a race, read the log back after a restart.
func ExampleNewFile() {
	dir, err := os.MkdirTemp("", "ratchet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := store.NewFile(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	info := store.RunInfo{ID: "run-1", Agent: "support", CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		Meta: store.Meta{Status: "pending"}}
	if err := s.Create(ctx, info, [][]byte{[]byte(`{"kind":"started"}`)}); err != nil {
		log.Fatal(err)
	}
	step := store.Batch{RunID: "run-1", Expected: 1, Records: [][]byte{[]byte(`{"kind":"model_responded"}`)},
		Meta: store.Meta{Status: "running"}}
	if err := s.Append(ctx, step); err != nil {
		log.Fatal(err)
	}
	// A second writer that also saw sequence 1 loses and writes nothing.
	err = s.Append(ctx, step)
	fmt.Println("stale writer:", errors.Is(err, store.ErrConflict))
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	s, err = store.NewFile(dir, nil) // a restart
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ri, err := s.Get(ctx, "run-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ri.Status, ri.LastSeq)
	recs, err := s.Read(ctx, "run-1", 2)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Seq, string(r.Data))
	}
	// Output:
	// stale writer: true
	// running 2
	// 2 {"kind":"model_responded"}
}

// Leases fence out a worker whose lease was taken over.
func ExampleMemory_leases() {
	ctx := context.Background()
	s := store.NewMemory(nil)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Create(ctx, store.RunInfo{ID: "run-1"}, nil); err != nil {
		log.Fatal(err)
	}
	a, _ := s.AcquireLease(ctx, "run-1", "worker-a", t0, t0.Add(time.Minute))
	_, err := s.AcquireLease(ctx, "run-1", "worker-b", t0.Add(time.Second), t0.Add(time.Minute))
	fmt.Println("b while a holds it:", errors.Is(err, store.ErrLeased))

	// a stalls past its expiry; b takes over with a greater token.
	b, _ := s.AcquireLease(ctx, "run-1", "worker-b", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	fmt.Println("tokens:", a.Token, b.Token)
	err = s.Append(ctx, store.Batch{RunID: "run-1", Expected: 0, Fence: a.Token, Records: [][]byte{[]byte("late")}})
	fmt.Println("a's late append:", errors.Is(err, store.ErrConflict))
	// Output:
	// b while a holds it: true
	// tokens: 1 2
	// a's late append: true
}
