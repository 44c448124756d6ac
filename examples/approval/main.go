// Command approval shows a run that waits for a person, durably, offline:
//
//	go run ./examples/approval [-store DIR] [-answer yes|no]
//
// An agent (on a scripted model) wants to call a risky tool, delete_branch,
// that needs a person's approval. The run is persisted as waiting in a File
// store in DIR (by default a new temporary directory, printed) and the
// program asks on the terminal. Kill it while it waits (Ctrl-C), start it
// again with the same -store: it shows the pending question again, takes
// the answer and continues where the run stopped. Nothing is repeated.
//
// The answer comes from -answer when given; else from a line on stdin
// (y/yes approves, anything else rejects). When stdin has nothing (not a
// terminal, nothing piped), the program explains how to answer and exits 0,
// leaving the run waiting.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

const runID = "cleanup-1"

func main() {
	dir := flag.String("store", "", "store directory (default: a new temporary directory)")
	answer := flag.String("answer", "", "answer the approval non-interactively: yes or no")
	flag.Parse()
	if err := run(context.Background(), *dir, *answer, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "approval:", err)
		os.Exit(1)
	}
}

type branchIn struct {
	Branch string `json:"branch" jsonschema:"description=the branch to delete"`
}

// model asks to delete a branch, then reports what the tool said.
func model() ratchet.Model {
	return ratchettest.NewModelFunc(&ratchettest.ExampleTB{}, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		last := req.Messages[len(req.Messages)-1]
		if last.Role == ratchet.RoleTool {
			return ratchettest.Text("Cleanup finished. The tool said: " + last.Content)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "delete_branch", Args: `{"branch":"release-2019"}`})
	})
}

func run(ctx context.Context, dir, answer string, stdin io.Reader, out io.Writer) error {
	if answer != "" && answer != "yes" && answer != "no" {
		return fmt.Errorf("-answer must be yes or no, not %q", answer)
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "ratchet-approval-")
		if err != nil {
			return err
		}
		dir = d
	}
	fmt.Fprintf(out, "store: %s (run again with -store %s to resume)\n", dir, dir)
	st, err := store.NewFile(dir, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	deleteBranch := ratchet.NewTool("delete_branch", "Deletes a git branch for good.",
		func(ctx context.Context, in branchIn) (string, error) {
			fmt.Fprintf(out, "  (tool) deleting branch %s\n", in.Branch)
			return "deleted " + in.Branch, nil
		}, ratchet.NeedsApproval())
	agent, err := ratchet.NewAgent(ratchet.Config{Name: "janitor", Model: model(), Store: st,
		Instructions: "You clean up old branches.", Tools: []ratchet.Tool{deleteBranch}})
	if err != nil {
		return err
	}

	r, err := agent.Resume(ctx, runID, nil)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintln(out, "starting run", runID)
		r, err = agent.Start(ctx, "Delete the branches nobody used since 2019.", &ratchet.RunOptions{ID: runID})
	} else if err == nil {
		fmt.Fprintf(out, "resuming run %s (%s)\n", runID, r.Status())
	}
	if err != nil {
		return err
	}
	lines := bufio.NewScanner(stdin)
	for {
		switch r.Status() {
		case ratchet.StatusRunning:
			if _, err := r.Step(ctx); err != nil && r.Status() == ratchet.StatusRunning {
				return err
			}
		case ratchet.StatusWaiting:
			p := r.State().Interrupts[0]
			fmt.Fprintf(out, "The agent wants to call %s(%s). Approve? [y/N] ", p.Tool, p.Args)
			ans := answer
			if ans == "" {
				if !lines.Scan() {
					fmt.Fprintln(out)
					fmt.Fprintln(out, "No answer on stdin: the run stays waiting in the store.")
					fmt.Fprintf(out, "Answer with: go run ./examples/approval -store %s -answer yes   (or no)\n", dir)
					return nil
				}
				ans = strings.TrimSpace(lines.Text())
			}
			fmt.Fprintln(out, ans)
			approved := ans == "y" || ans == "yes"
			a := ratchet.Answer{Approved: approved}
			if !approved {
				a.Reason = "the operator said no"
			}
			if err := ratchet.AnswerRun(ctx, st, nil, runID, p.ID, a); err != nil {
				return err
			}
			if r, err = agent.Resume(ctx, runID, nil); err != nil {
				return err
			}
		default:
			fmt.Fprintf(out, "run %s %s: %s\n", runID, r.Status(), r.Output())
			return nil
		}
	}
}
