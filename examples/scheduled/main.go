// Command scheduled shows the Scheduler's periodic and event-driven runs,
// offline and in about a second:
//
//	go run ./examples/scheduled
//
// A "report" agent runs every hour (a periodic schedule stored in the
// store, "@every 1h"), and a "deployer" agent's run waits for a "deploy"
// event, which arrives at 02:30. Time is a fake clock (ratchettest.Clock)
// that the program moves forward four hours, so nothing really sleeps; the
// program prints what fired when.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scheduled:", err)
		os.Exit(1)
	}
}

type noIn struct{}

func run(ctx context.Context, out io.Writer) error {
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	hhmm := func() string { return clock.Now().Format("15:04") }
	tb := &ratchettest.ExampleTB{}

	// report: one tool call (which prints), then a final answer.
	report := ratchet.NewTool("count_orders", "Counts today's orders.", func(ctx context.Context, _ noIn) (string, error) {
		fmt.Fprintf(out, "[%s] report: counting orders\n", hhmm())
		return "42", nil
	})
	reportModel := ratchettest.NewModelFunc(tb, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if last := req.Messages[len(req.Messages)-1]; last.Role == ratchet.RoleTool {
			return ratchettest.Text("orders so far: " + last.Content)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "count_orders", Args: `{}`})
	})
	// deployer: waits for the "deploy" event, whose data becomes the tool's result.
	wait := ratchet.NewTool("wait_for_deploy", "Waits for the next deploy.", func(ctx context.Context, _ noIn) (string, error) {
		return "", ratchet.WaitForEvent("deploy", time.Time{})
	})
	deployModel := ratchettest.NewModelFunc(tb, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		if last := req.Messages[len(req.Messages)-1]; last.Role == ratchet.RoleTool {
			return ratchettest.Text("smoke-tested " + last.Content)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "wait_for_deploy", Args: `{}`})
	})

	s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Clock: clock, Owner: "example"})
	if err != nil {
		return err
	}
	n := 0
	for _, cfg := range []ratchet.Config{
		{Name: "report", Model: reportModel, Tools: []ratchet.Tool{report}},
		{Name: "deployer", Model: deployModel, Tools: []ratchet.Tool{wait}},
	} {
		cfg.Store, cfg.Clock = st, clock
		cfg.NewID = func() string { n++; return fmt.Sprintf("%s-%d", cfg.Name, n) }
		a, err := ratchet.NewAgent(cfg)
		if err != nil {
			return err
		}
		if err := s.Register(a, nil); err != nil {
			return err
		}
	}
	if err := s.AddPeriodic(ctx, ratchet.PeriodicSpec{ID: "hourly-report", Agent: "report", Input: "Report the orders.", Schedule: "@every 1h"}); err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	defer s.Stop(ctx)
	deployRun, err := s.StartRun(ctx, "deployer", "Smoke-test the next deploy.", nil)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, st, deployRun, ratchet.StatusWaiting); err != nil {
		return err
	}
	fmt.Fprintf(out, "[%s] %s is waiting for a deploy event\n", hhmm(), deployRun)

	for _, step := range []struct {
		at    string
		event bool
	}{{"01:00", false}, {"02:00", false}, {"02:30", true}, {"03:00", false}, {"04:00", false}} {
		at, _ := time.Parse("15:04", step.at)
		clock.WaitForWaiters(1, 5*time.Second) // the scheduler sleeps on the clock
		clock.Set(time.Date(2026, 3, 1, at.Hour(), at.Minute(), 0, 0, time.UTC))
		if step.event {
			fmt.Fprintf(out, "[%s] sending deploy v1.4.2 to %s\n", hhmm(), deployRun)
			data, _ := json.Marshal("v1.4.2")
			if err := s.Send(ctx, deployRun, ratchet.RunEvent{Name: "deploy", Data: data}); err != nil {
				return err
			}
			if err := waitFor(ctx, st, deployRun, ratchet.StatusSucceeded); err != nil {
				return err
			}
			if err := printRun(ctx, out, st, deployRun, hhmm()); err != nil {
				return err
			}
			continue
		}
		id := "hourly-report-" + clock.Now().Format("20060102T150405Z")
		if err := waitFor(ctx, st, id, ratchet.StatusSucceeded); err != nil {
			return err
		}
		if err := printRun(ctx, out, st, id, hhmm()); err != nil {
			return err
		}
	}
	ps, err := ratchet.LoadPeriodic(ctx, st, "hourly-report")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "next report at %s\n", ps.Next.Format("15:04"))
	return nil
}

func printRun(ctx context.Context, out io.Writer, st store.Store, id, at string) error {
	s, err := ratchet.LoadState(ctx, st, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "[%s] %s %s: %s\n", at, id, s.Status, s.Output)
	return nil
}

// waitFor polls the store (in real time) until run id has status want.
func waitFor(ctx context.Context, st store.Store, id string, want ratchet.Status) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := st.Get(ctx, id); err == nil && info.Status == string(want) {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("run %s never became %s", id, want)
}
