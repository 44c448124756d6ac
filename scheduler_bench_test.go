package ratchet_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// fiveSteps answers with four echo calls, one per step, then a final answer.
// It records no requests: copying them is the harness's cost, not the
// library's.
func fiveSteps(b *testing.B) *ratchettest.Model {
	call, text := ratchettest.ToolCalls(ratchettest.Call{Name: "echo", Args: `{"text":"x"}`}), ratchettest.Text("done")
	return ratchettest.NewModelFunc(b, func(ctx context.Context, _ int, req *ratchet.Request) ratchettest.Reply {
		n := 0
		for _, m := range req.Messages {
			if m.Role == ratchet.RoleTool {
				n++
			}
		}
		if n < 4 {
			return call // Generate returns a copy
		}
		return text
	}).WithoutRecording()
}

func BenchmarkSchedulerThroughput(b *testing.B) {
	runs, latency, steps := benchRuns(), 100*time.Millisecond, 5
	for _, kind := range []string{"memory", "file"} {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				var st store.Store
				if kind == "memory" {
					st = store.NewMemory(nil)
				} else {
					f, err := store.NewFile(b.TempDir(), nil)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					st = f
				}
				s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Workers: runs, Owner: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				var seq sync.Mutex
				next := 0
				a, err := ratchet.NewAgent(ratchet.Config{Name: "bench", Model: fiveSteps(b).WithLatency(latency), Store: st,
					Tools: []ratchet.Tool{echoTool()}, NewID: func() string {
						seq.Lock()
						defer seq.Unlock()
						next++
						return fmt.Sprintf("r%06d", next)
					}})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Register(a, nil); err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if err := s.Start(ctx); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				peak := sampleStacks()
				var wg sync.WaitGroup
				for w := range 100 {
					wg.Go(func() {
						for i := w; i < runs; i += 100 {
							if _, err := s.StartRun(ctx, "bench", "go", nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				started := time.Since(start) // every run is started (and persisted)
				// Cheap completion check (a List of every run would hold the
				// store's lock): walk the IDs in order.
				for i := 1; i <= runs; {
					info, err := st.Get(ctx, fmt.Sprintf("r%06d", i))
					if err == nil && info.Status == "succeeded" {
						i++
						continue
					}
					time.Sleep(5 * time.Millisecond)
				}
				wall := time.Since(start)
				b.ReportMetric(float64(wall)/float64(time.Duration(steps)*latency), "x-floor")
				b.ReportMetric(float64(peak())/float64(runs), "stack-B/run")
				// The last run's 500 ms can only begin once it is started.
				b.ReportMetric(float64(started)/float64(time.Millisecond), "start-ms")
				_ = s.Stop(ctx)
			}
		})
	}
}

func BenchmarkWaitingRuns(b *testing.B) {
	const runs = 100_000
	for b.Loop() {
		st := store.NewMemory(nil)
		m := ratchettest.NewModelFunc(b, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
			return ratchettest.ToolCalls(ratchettest.Call{Name: "echo", Args: `{"text":"x"}`})
		})
		tool := ratchet.NewTool("echo", "Echoes.", func(ctx context.Context, in echoIn) (string, error) { return in.Text, nil }, ratchet.NeedsApproval())
		next := 0
		a, err := ratchet.NewAgent(ratchet.Config{Name: "waiter", Model: m, Store: st, Tools: []ratchet.Tool{tool},
			NewID: func() string { next++; return fmt.Sprintf("w%06d", next) }})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for range runs {
			r, err := a.Start(ctx, "go", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Step(ctx); err != nil || r.Status() != ratchet.StatusWaiting {
				b.Fatal(err, r.Status())
			}
		}
		h0 := heap()
		s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Owner: "bench", PollInterval: 10 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Register(a, nil); err != nil {
			b.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // a few polls
		h1 := heap()
		b.ReportMetric(float64(int64(h1)-int64(h0))/runs, "B/waiting-run")
		_ = s.Stop(ctx)
		runtime.KeepAlive(st)
	}
}

// sampleStacks samples the goroutine stack memory in use every 10 ms
// until the returned func is called, which returns the peak.
func sampleStacks() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.StackInuse)
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchRuns is 10,000, or RATCHET_BENCH_RUNS.
func benchRuns() int {
	if n, err := strconv.Atoi(os.Getenv("RATCHET_BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}
