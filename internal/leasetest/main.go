// Command leasetest is the child process of the lease tests in this
// directory: several OS processes try to step one run of a File store at
// once, and the test checks that exactly one does.
//
// It is configured through the environment:
//
//	LEASE_DIR   the directory of the store, the tool log and the go file
//	LEASE_MODE  "create": create the run and stop (releasing its lease);
//	            "resume": resume the run and step it to its end;
//	            "sched": run a Scheduler that steps the run to its end
//	LEASE_GO    the name of the go file (default "go")
//
// "resume" and "sched" print "ready" and wait for the go file in LEASE_DIR
// to exist before they start, so that the test can release them at once. "resume"
// then prints "stepped" when it stepped the run to its end, "busy" when
// the run's lease was held by someone else, or "ended" when the run had
// ended before it looked. Every tool call appends
// "B KEY TOOL PID NANOS" before its effect and "E KEY TOOL PID NANOS"
// after it to LEASE_DIR/tools.log.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// RunID is the one run the processes contend for.
const RunID = "contended"

// Steps is how many tool steps the run takes before its final answer;
// each step calls a non-idempotent and an idempotent tool.
const Steps = 4

// ToolTime is how long each tool call takes.
const ToolTime = 25 * time.Millisecond

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "leasetest:", err)
		os.Exit(1)
	}
}

type model struct{}

func (model) Generate(_ context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	step := 0
	for _, m := range req.Messages {
		if m.Role == ratchet.RoleAssistant {
			step++
		}
	}
	if step >= Steps {
		return &ratchet.Response{Message: ratchet.Message{Content: "done"}, FinishReason: ratchet.FinishStop}, nil
	}
	return &ratchet.Response{FinishReason: ratchet.FinishToolCalls, Message: ratchet.Message{ToolCalls: []ratchet.ToolCall{
		{ID: fmt.Sprintf("c%d", step), Name: "charge", Arguments: `{}`},
		{ID: fmt.Sprintf("l%d", step), Name: "lookup", Arguments: `{}`},
	}}}, nil
}

func tools(log *os.File) []ratchet.Tool {
	tool := func(name string, opts ...ratchet.ToolOption) ratchet.Tool {
		return ratchet.NewTool(name, "Takes a while.", func(ctx context.Context, _ struct{}) (string, error) {
			key := ratchet.IdempotencyKey(ctx)
			fmt.Fprintf(log, "B %s %s %d %d\n", key, name, os.Getpid(), time.Now().UnixNano())
			time.Sleep(ToolTime)
			fmt.Fprintf(log, "E %s %s %d %d\n", key, name, os.Getpid(), time.Now().UnixNano())
			return name + " ok", nil
		}, opts...)
	}
	return []ratchet.Tool{tool("charge"), tool("lookup", ratchet.Idempotent())}
}

func run(ctx context.Context) error {
	dir := os.Getenv("LEASE_DIR")
	fs, err := store.NewFile(filepath.Join(dir, "store"), nil)
	if err != nil {
		return err
	}
	defer fs.Close()
	log, err := os.OpenFile(filepath.Join(dir, "tools.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	agent, err := ratchet.NewAgent(ratchet.Config{Name: "lease", Model: model{}, Tools: tools(log), Store: fs,
		NewID: func() string { return RunID }})
	if err != nil {
		return err
	}
	mode := os.Getenv("LEASE_MODE")
	if mode == "create" {
		r, err := agent.Start(ctx, "go", nil)
		if err != nil {
			return err
		}
		return r.Close(ctx)
	}
	fmt.Println("ready")
	for {
		if _, err := os.Stat(filepath.Join(dir, cmp.Or(os.Getenv("LEASE_GO"), "go"))); err == nil {
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	switch mode {
	case "resume":
		r, err := agent.Resume(ctx, RunID, nil)
		if errors.Is(err, ratchet.ErrRunBusy) {
			fmt.Println("busy")
			return nil
		}
		if err != nil {
			return err
		}
		if r.Status().Ended() {
			fmt.Println("ended") // the other process was done before this one looked
			return nil
		}
		if _, err := r.Wait(ctx); err != nil {
			return err
		}
		fmt.Println("stepped")
		return nil
	case "sched":
		s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: fs, PollInterval: 5 * time.Millisecond})
		if err != nil {
			return err
		}
		if err := s.Register(agent, nil); err != nil {
			return err
		}
		if err := s.Start(ctx); err != nil {
			return err
		}
		for {
			info, err := fs.Get(ctx, RunID)
			if err != nil {
				return err
			}
			if ratchet.Status(info.Status).Ended() {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Stop(stop); err != nil {
			return err
		}
		fmt.Println("sched")
		return nil
	}
	return fmt.Errorf("LEASE_MODE %q: want create, resume or sched", mode)
}
