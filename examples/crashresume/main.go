// Command crashresume shows what ratchet's durability means, offline:
//
//	go run ./examples/crashresume
//
// It runs an agent on a File store in a temporary directory in a child
// process (its own binary, re-executed), which kills itself with SIGKILL in
// the middle of a tool call, as a crash or an OOM kill would. It then
// starts a second process on the same directory, which resumes the run,
// and prints what the second process repeated and what it did not: model
// responses already in the log are not asked for again, finished tool calls
// are not run again, and the call that was cut off (not idempotent) is
// reported to the model as having an unknown outcome instead of being run
// twice.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

const (
	envRole = "CRASHRESUME_ROLE" // "crash" or "resume" in a child
	envDir  = "CRASHRESUME_DIR"
	runID   = "order-42"
)

func main() {
	var err error
	switch os.Getenv(envRole) {
	case "":
		err = parent()
	default:
		err = child(context.Background(), os.Getenv(envRole), os.Getenv(envDir))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashresume:", err)
		os.Exit(1)
	}
}

// parent runs the two children and tells the story.
func parent() error {
	dir, err := os.MkdirTemp("", "crashresume")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("store: %s\n\n== process 1: start the run\n", filepath.Join(dir, "store"))
	if err := spawn(self, "crash", dir); err == nil {
		return errors.New("process 1 was meant to crash")
	} else if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return fmt.Errorf("process 1: %w", err)
	}
	fmt.Println("   (process 1 died: killed by SIGKILL)")

	fs, err := store.NewFile(filepath.Join(dir, "store"), nil)
	if err != nil {
		return err
	}
	recs, err := fs.Read(context.Background(), runID, 1)
	if err != nil {
		return err
	}
	fmt.Printf("\n== the log it left: %d records\n", len(recs))
	for _, sr := range recs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		if err != nil {
			return err
		}
		fmt.Printf("   %s\n", r)
	}
	if err := fs.Close(); err != nil {
		return err
	}

	fmt.Println("\n== process 2: resume the run")
	if err := spawn(self, "resume", dir); err != nil {
		return fmt.Errorf("process 2: %w", err)
	}
	return summary(dir)
}

func spawn(self, role, dir string) error {
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envRole+"="+role, envDir+"="+dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// summary compares what each process did, from the side-effect log.
func summary(dir string) error {
	f, err := os.Open(filepath.Join(dir, "effects.log"))
	if err != nil {
		return err
	}
	defer f.Close()
	byProc := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		proc, what, _ := strings.Cut(sc.Text(), " ")
		if byProc[proc] == nil {
			byProc[proc] = map[string]bool{}
		}
		byProc[proc][what] = true
	}
	fmt.Println("\n== what the restart repeated")
	repeated := 0
	for what := range byProc["crash"] {
		if byProc["resume"][what] {
			fmt.Printf("   repeated: %s\n", what)
			repeated++
		}
	}
	if repeated == 0 {
		fmt.Println("   nothing: every model response and tool result in the log was reused")
	}
	for what := range byProc["crash"] {
		if strings.HasPrefix(what, "tool send_email") && !byProc["resume"][what] {
			fmt.Println("   not repeated: the email, whose call was cut off; it is not idempotent, so the model was told its outcome is unknown")
		}
	}
	return sc.Err()
}

type prog struct {
	role, dir string
	crash     bool
}

// effect logs a side effect (to a file outside the store, with O_APPEND,
// so it survives the kill).
func (p *prog) effect(what string) {
	f, err := os.OpenFile(filepath.Join(p.dir, "effects.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", p.role, what)
	fmt.Printf("   %s\n", what)
}

type lookupArgs struct {
	Item string `json:"item"`
}

type emailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

func (p *prog) tools() []ratchet.Tool {
	prices := map[string]string{"tea": "4.50", "cake": "3.20"}
	return []ratchet.Tool{
		ratchet.NewTool("price", "Looks up an item's price.", func(ctx context.Context, in lookupArgs) (string, error) {
			p.effect("tool price(" + in.Item + ") ran, key " + ratchet.IdempotencyKey(ctx))
			return prices[in.Item], nil
		}, ratchet.Idempotent()),
		ratchet.NewTool("send_email", "Sends an email (not idempotent).", func(ctx context.Context, in emailArgs) (string, error) {
			p.effect("tool send_email(" + in.To + ") ran, key " + ratchet.IdempotencyKey(ctx))
			if p.crash {
				fmt.Println("   ... and the process is killed before the email's result is saved")
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			return "sent", nil
		}),
	}
}

// Generate is a scripted model: it answers by the number of assistant
// messages so far, as a real model would answer from the conversation.
func (p *prog) Generate(_ context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	n := 0
	var last string
	for _, m := range req.Messages {
		if m.Role == ratchet.RoleAssistant {
			n++
		}
		if m.Role == ratchet.RoleTool {
			last = m.Content
		}
	}
	p.effect(fmt.Sprintf("model asked for step %d", n+1))
	msg := ratchet.Message{Role: ratchet.RoleAssistant}
	finish := ratchet.FinishToolCalls
	switch n {
	case 0:
		msg.ToolCalls = []ratchet.ToolCall{
			{ID: "p1", Name: "price", Arguments: `{"item":"tea"}`},
			{ID: "p2", Name: "price", Arguments: `{"item":"cake"}`},
		}
	case 1:
		msg.ToolCalls = []ratchet.ToolCall{{ID: "e1", Name: "send_email", Arguments: `{"to":"ana@example.com","subject":"Your order: 7.70"}`}}
	default:
		finish = ratchet.FinishStop
		if strings.Contains(last, "unknown") {
			msg.Content = "Order 42 totals 7.70. The confirmation email may not have gone out (its outcome is unknown); please check before resending."
		} else {
			msg.Content = "Order 42 totals 7.70; the confirmation email was sent."
		}
	}
	return &ratchet.Response{Message: msg, FinishReason: finish}, nil
}

// child runs (role "crash") or resumes (role "resume") the run.
func child(ctx context.Context, role, dir string) error {
	p := &prog{role: role, dir: dir, crash: role == "crash"}
	fs, err := store.NewFile(filepath.Join(dir, "store"), nil)
	if err != nil {
		return err
	}
	defer fs.Close()
	agent, err := ratchet.NewAgent(ratchet.Config{Name: "crashresume", Model: p, Tools: p.tools(), Store: fs,
		// Stable across restarts: the restarted process takes the run's
		// lease back at once, not after the dead process's lease expires.
		Owner: "crashresume-worker"})
	if err != nil {
		return err
	}
	var r *ratchet.Run
	if role == "crash" {
		r, err = agent.Start(ctx, "Price tea and cake for order 42 and email Ana the total.", &ratchet.RunOptions{ID: runID})
	} else {
		r, err = agent.Resume(ctx, runID, nil)
		if err == nil {
			st := r.State()
			fmt.Printf("   loaded run %s at step %d (%d records); continuing\n", r.ID(), st.Step, st.Seq)
		}
	}
	if err != nil {
		return err
	}
	out, err := r.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("   final answer: %s\n", out)
	return nil
}
