package bench

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// suspended is how many runs are held suspended at once.
const suspended = 1000

// BenchmarkSuspended measures the heap held by 1,000 paused Ratchet runs:
// each run takes one step (a tool call) and is then paused by its step
// budget, so it waits, in its store, to be resumed. Nothing but the store
// holds the run. The heap is read with runtime.ReadMemStats after a GC,
// before and after.
func BenchmarkSuspended(b *testing.B) {
	for _, c := range []struct {
		name     string
		newStore func(dir string) store.Store
	}{
		{"fw=ratchet-mem", func(string) store.Store { return store.NewMemory(nil) }},
		{"fw=ratchet-file", func(dir string) store.Store {
			s, err := store.NewFile(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total float64
			for i := range b.N {
				total += heapOfSuspended(b, c.newStore(b.TempDir()+"/"+strconv.Itoa(i)))
			}
			b.ReportMetric(total/float64(b.N)/suspended, "B/suspended-run")
		})
	}
}

func heapOfSuspended(b *testing.B, s store.Store) float64 {
	ctx := context.Background()
	// MaxSteps 1: the run takes one step and pauses before the second.
	a := newRatchetAgent(b, ratchetModel{k: 100}, s, ratchet.Budget{MaxSteps: 1})
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for range suspended {
		_, err := a.Run(ctx, Prompt, nil)
		if be, ok := errors.AsType[*ratchet.BudgetError](err); !ok || be.Budget != ratchet.BudgetSteps {
			b.Fatalf("want a steps budget pause, got %v", err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(a)
	runtime.KeepAlive(s)
	if c, ok := s.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	return float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc))
}
