// Command crashtest is the child process of the crash tests in this
// directory: it runs (or resumes) one agent run on a File store and can
// kill itself with SIGKILL at a chosen hook, so that the test can check
// what a real crash leaves behind and what a restart repeats.
//
// It is configured through the environment:
//
//	CRASH_DIR      the directory of the store and the side-effect logs
//	CRASH_INV      this invocation's number, written into the logs
//	CRASH_KILL_AT  kill the process at this hook (1-based); 0 or unset: never
//	CRASH_DELAY    a delay, such as 2ms, inside the model and every tool,
//	               so that a parent can kill at random times
//
// Hooks are counted in order of occurrence within one invocation: before
// and after each Store.Append, before and after each model answer, and
// before and after each tool's side effect. On success it prints
// "output: <final answer>" and "hooks: <count>" on stdout.
//
// Side effects, outside the store, in CRASH_DIR:
//
//	model.log  "INV N" for every model answer; N is the number of assistant
//	           messages in the request (the step being answered, from 0)
//	tools.log  "INV KEY TOOL" for every tool side effect, KEY being the
//	           call's idempotency key
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// RunID is the ID of the one run the program drives.
const RunID = "crashrun"

// Script is what the scripted model asks for, step by step; the last step
// is the final answer, which lists the results of the "add" calls (an
// idempotent tool, so they are the same however often a crash re-ran them).
var Script = [][][3]string{ // tool, a, b
	{{"add", "1", "2"}, {"note", "a", ""}, {"add", "3", "4"}},
	{{"note", "b", ""}},
	{{"add", "5", "6"}, {"add", "7", "8"}, {"note", "c", ""}, {"note", "d", ""}},
	{{"add", "9", "10"}},
	{{"note", "e", ""}, {"add", "11", "12"}},
}

// WantOutput is the final answer of every run of Script.
const WantOutput = "sums: 3 7 11 15 19 23"

type prog struct {
	dir    string
	inv    string
	killAt int64
	delay  time.Duration
	hooks  atomic.Int64
	mu     sync.Mutex
}

func (p *prog) hook() {
	if n := p.hooks.Add(1); n == p.killAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

func (p *prog) sleep() {
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
}

// log appends one line to a side file with O_APPEND, before the caller
// goes on: the line survives a SIGKILL (the page cache outlives the process).
func (p *prog) log(name, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(p.dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := f.WriteString(p.inv + " " + line + "\n"); err != nil {
		panic(err)
	}
}

// hookStore calls the hooks around every append.
type hookStore struct {
	store.Store
	p *prog
}

func (s hookStore) Append(ctx context.Context, b store.Batch) error {
	s.p.hook()
	err := s.Store.Append(ctx, b)
	s.p.hook()
	return err
}

type model struct{ p *prog }

func (m model) Generate(_ context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	n := 0
	var sums []string
	for _, msg := range req.Messages {
		if msg.Role == ratchet.RoleAssistant {
			n++
		}
		if msg.Role == ratchet.RoleTool && strings.HasPrefix(msg.ToolCallID, "add") {
			sums = append(sums, msg.Content)
		}
	}
	m.p.sleep()
	m.p.hook()
	m.p.log("model.log", strconv.Itoa(n))
	defer m.p.hook()
	if n == len(Script) {
		return &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: "sums: " + strings.Join(sums, " ")},
			FinishReason: ratchet.FinishStop}, nil
	}
	var calls []ratchet.ToolCall
	for i, c := range Script[n] {
		id := fmt.Sprintf("%s_%d_%d", c[0], n, i)
		args := fmt.Sprintf(`{"a":%s,"b":%s}`, c[1], c[2])
		if c[0] == "note" {
			args = fmt.Sprintf(`{"text":%q}`, c[1])
		}
		calls = append(calls, ratchet.ToolCall{ID: id, Name: c[0], Arguments: args})
	}
	return &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: calls},
		FinishReason: ratchet.FinishToolCalls}, nil
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

type noteArgs struct {
	Text string `json:"text"`
}

func (p *prog) tools() []ratchet.Tool {
	effect := func(ctx context.Context, tool string) {
		p.sleep()
		p.hook()
		p.log("tools.log", ratchet.IdempotencyKey(ctx)+" "+tool)
		p.hook()
	}
	return []ratchet.Tool{
		ratchet.NewTool("add", "Adds a and b.", func(ctx context.Context, in addArgs) (int, error) {
			effect(ctx, "add")
			return in.A + in.B, nil
		}, ratchet.Idempotent()),
		ratchet.NewTool("note", "Writes a note (not idempotent).", func(ctx context.Context, in noteArgs) (string, error) {
			effect(ctx, "note")
			return "noted " + in.Text, nil
		}),
	}
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	p := &prog{dir: os.Getenv("CRASH_DIR"), inv: os.Getenv("CRASH_INV")}
	if p.dir == "" {
		return errors.New("CRASH_DIR is not set")
	}
	if p.inv == "" {
		p.inv = "0"
	}
	if s := os.Getenv("CRASH_KILL_AT"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("CRASH_KILL_AT: %w", err)
		}
		p.killAt = n
	}
	if s := os.Getenv("CRASH_DELAY"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("CRASH_DELAY: %w", err)
		}
		p.delay = d
	}
	fs, err := store.NewFile(filepath.Join(p.dir, "store"))
	if err != nil {
		return err
	}
	defer fs.Close()
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "crashtest", Model: model{p}, Tools: p.tools(), Store: hookStore{fs, p},
		SnapshotEvery: 5, NewID: func() string { return RunID },
		Owner: "crashtest", // a restart takes its run back at once
	})
	if err != nil {
		return err
	}
	r, err := agent.Resume(ctx, RunID, nil)
	if errors.Is(err, store.ErrNotFound) {
		r, err = agent.Start(ctx, "add things up", nil)
	}
	if err != nil {
		return err
	}
	out, err := r.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("output: %s\nhooks: %d\n", out, p.hooks.Load())
	return nil
}
