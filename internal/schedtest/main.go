// Command schedtest is the child process of the multi-process scheduler
// test in this directory: it runs a Scheduler with a short lease over a
// File store shared with another child, optionally starts runs, and exits
// once every run of its agent has succeeded.
//
// Flags:
//
//	-dir DIR     the store's directory; DIR/steps.log is the side file
//	-start N     start N runs (input "job-<i>") before serving
//	-expect N    exit 0 once N runs of the agent have succeeded
//
// Every tool call appends two lines to DIR/steps.log (opened O_APPEND, one
// write per line): "B run step pid unixnano" before its work and
// "E run step pid unixnano" after it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// Steps is the number of tool steps of every run; the final answer follows.
const Steps = 4

// LeaseTTL is each child's lease: short, so that a survivor takes over fast.
const LeaseTTL = 300 * time.Millisecond

// Output is the final answer of the run with input in.
func Output(in string) string { return "done " + in }

type workIn struct {
	Step int `json:"step"`
}

func main() {
	dir := flag.String("dir", "", "store directory")
	start := flag.Int("start", 0, "runs to start")
	expect := flag.Int("expect", 0, "exit once this many runs succeeded")
	flag.Parse()
	if err := run(*dir, *start, *expect); err != nil {
		fmt.Fprintln(os.Stderr, "schedtest:", err)
		os.Exit(1)
	}
}

func run(dir string, start, expect int) error {
	st, err := store.NewFile(dir, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	side, err := os.OpenFile(filepath.Join(dir, "steps.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer side.Close()
	pid := os.Getpid()
	logLine := func(kind, runID string, step int) {
		// One write of one short line: O_APPEND keeps lines whole.
		fmt.Fprintf(side, "%s %s %d %d %d\n", kind, runID, step, pid, time.Now().UnixNano())
	}
	work := ratchet.NewTool("work", "Works on a step.", func(ctx context.Context, in workIn) (string, error) {
		key := ratchet.IdempotencyKey(ctx)
		runID := strings.SplitN(key, "/", 2)[0]
		logLine("B", runID, in.Step)
		select {
		case <-time.After(30 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		logLine("E", runID, in.Step)
		return "ok " + strconv.Itoa(in.Step), nil
	}, ratchet.Idempotent())
	model := modelFunc(func(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		n := 0
		for _, m := range req.Messages {
			if m.Role == ratchet.RoleTool {
				n++
			}
		}
		if n < Steps {
			return &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{
				{ID: "c" + strconv.Itoa(n), Name: "work", Arguments: fmt.Sprintf(`{"step":%d}`, n)}}}, FinishReason: ratchet.FinishToolCalls}, nil
		}
		var in string
		for _, m := range req.Messages {
			if m.Role == ratchet.RoleUser {
				in = m.Content
				break
			}
		}
		return &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: Output(in)}, FinishReason: ratchet.FinishStop}, nil
	})
	next := 0
	a, err := ratchet.NewAgent(ratchet.Config{Name: "worker", Model: model, Store: st, Tools: []ratchet.Tool{work},
		NewID: func() string { next++; return fmt.Sprintf("job-%03d", next) }})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Workers: 8, LeaseTTL: LeaseTTL,
		PollInterval: 50 * time.Millisecond, Owner: fmt.Sprintf("proc-%d", pid), Logger: logger})
	if err != nil {
		return err
	}
	if err := s.Register(a, nil); err != nil {
		return err
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		return err
	}
	for i := range start {
		if _, err := s.StartRun(ctx, "worker", fmt.Sprintf("job-%03d", i+1), &ratchet.RunOptions{ID: fmt.Sprintf("job-%03d", i+1)}); err != nil {
			return err
		}
	}
	fmt.Println("started")
	for expect > 0 {
		done, err := st.List(ctx, store.Query{Agent: "worker", Statuses: []string{string(ratchet.StatusSucceeded)}})
		if err != nil {
			return err
		}
		if len(done) >= expect {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s.Stop(ctx)
}

type modelFunc func(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error)

func (f modelFunc) Generate(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	return f(ctx, req)
}
