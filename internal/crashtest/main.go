// Command crashtest is the child process of the crash tests in this
// directory: it runs (or resumes) one agent run on a File store and can
// kill itself with SIGKILL at a chosen hook, so that the test can check
// what a real crash leaves behind and what a restart repeats.
//
// It is configured through the environment:
//
//	CRASH_DIR      the directory of the store
//	CRASH_KILL_AT  kill the process at this hook (1-based); 0 or unset: never
//	CRASH_DELAY    a delay, such as 2ms, inside the model and every tool,
//	               so that a parent can kill at random times
//	CRASH_STORE    the store: "file" (the default, the real File store),
//	               or one of two deliberately broken ones: "ackfirst"
//	               acknowledges an append before writing it (see ackFirst),
//	               "nosync" is the File store with fsync switched off (see
//	               noSyncFS)
//	CRASH_POWERLOSS  "1": power-loss mode; the store's files go through
//	               faultfs.PowerLoss, so that a kill loses every write made
//	               after the file's last fdatasync, as a power loss does
//	CRASH_FAULT    an I/O fault to inject into the store's log (see
//	               parseFault). A failed fdatasync must fail the run with
//	               store.ErrFailed and the store must refuse changes until
//	               reopened; a failed write must fail the step without it
//	               and the store must take changes once the disk works.
//	               The child checks that (see refuse), reports "refused"
//	               and exits with code 3
//
// Hooks are counted in order of occurrence within one invocation: before
// and after each Store.Create and Store.Append, before and after each
// model answer, and before and after each tool's side effect.
//
// The child reports what happens on file descriptor 3, a pipe the parent
// reads, as JSON lines (see Event), each written before the child's next
// action: every acknowledged Create and Append with its records (written
// right after the store returned nil, before the hook that may kill), every
// model answer, every tool side effect (the side effects of the run, as an
// external system would see them) and, at the end, the final answer.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/internal/faultfs"
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
	killAt int64
	delay  time.Duration
	hooks  atomic.Int64
	events *reporter
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

// hookStore calls the hooks around every Create and Append and reports
// each acknowledgement between the store's return and the second hook.
type hookStore struct {
	fullStore
	p *prog
}

func (s hookStore) Create(ctx context.Context, info store.RunInfo, records [][]byte) error {
	s.p.hook()
	err := s.fullStore.Create(ctx, info, records)
	if err == nil {
		s.p.events.report(Event{Ev: "ack", Op: "create", Run: info.ID, First: 1, Recs: records, Status: info.Status})
	}
	s.p.hook()
	return err
}

func (s hookStore) Append(ctx context.Context, b store.Batch) error {
	s.p.hook()
	err := s.fullStore.Append(ctx, b)
	if err == nil {
		s.p.events.report(Event{Ev: "ack", Op: "append", Run: b.RunID, First: b.Expected + 1, Recs: b.Records, Status: b.Meta.Status})
	}
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
	m.p.events.report(Event{Ev: "model", N: n})
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
		p.events.report(Event{Ev: "tool", Key: ratchet.IdempotencyKey(ctx), Tool: tool})
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

func run(ctx context.Context) (err error) {
	p := &prog{dir: os.Getenv("CRASH_DIR")}
	if p.dir == "" {
		return errors.New("CRASH_DIR is not set")
	}
	ev := os.NewFile(EventFD, "events")
	if _, err := ev.Stat(); err != nil {
		return fmt.Errorf("no event pipe on file descriptor %d: %w", EventFD, err)
	}
	p.events = &reporter{f: ev}
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
	fsys := faultfs.OS()
	if os.Getenv("CRASH_POWERLOSS") == "1" {
		fsys = faultfs.NewPowerLoss(fsys)
	}
	mode := os.Getenv("CRASH_STORE")
	if mode == "nosync" {
		fsys = noSyncFS{fsys}
	}
	var faulty *faultfs.Faulty
	if spec := os.Getenv("CRASH_FAULT"); spec != "" {
		inj, err := parseFault(spec)
		if err != nil {
			return err
		}
		faulty = faultfs.NewFaulty(fsys, inj)
		fsys = faulty
	}
	fs, err := store.NewFile(filepath.Join(p.dir, "store"), &store.FileOptions{FS: fsys})
	if err != nil {
		if faulty != nil && len(faulty.Faults()) > 0 {
			p.events.report(Event{Ev: "refused", Err: err.Error()})
			os.Exit(exitRefused)
		}
		return err
	}
	defer func() { err = errors.Join(err, fs.Close()) }()
	var st fullStore = fs
	switch mode {
	case "", "file", "nosync":
	case "ackfirst":
		af := &ackFirst{fullStore: fs}
		defer func() { err = errors.Join(err, af.Close()) }()
		st = af
	default:
		return fmt.Errorf("CRASH_STORE: unknown store %q", mode)
	}
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "crashtest", Model: model{p}, Tools: p.tools(), Store: hookStore{st, p},
		SnapshotEvery: 5, NewID: func() string { return RunID },
		Owner: "crashtest", // a restart takes its run back at once
	})
	if err != nil {
		return err
	}
	out, err := drive(ctx, agent)
	if err != nil && faulty != nil && len(faulty.Faults()) > 0 {
		return refuse(ctx, p, fs, faulty, err)
	}
	if err != nil {
		return err
	}
	e := Event{Ev: "done", Output: out, Hooks: p.hooks.Load()}
	if faulty != nil {
		e.Writes, e.Syncs = faulty.Count(faultfs.OpWrite), faulty.Count(faultfs.OpSync)
	}
	p.events.report(e)
	return nil
}

// exitRefused is the child's exit code after an injected fault that the
// store handled as it must (see refuse).
const exitRefused = 3

// drive resumes the run, or starts it, and runs it to its end.
func drive(ctx context.Context, agent *ratchet.Agent) (string, error) {
	r, err := agent.Resume(ctx, RunID, nil)
	if errors.Is(err, store.ErrNotFound) {
		r, err = agent.Start(ctx, "add things up", nil)
	}
	if err != nil {
		return "", err
	}
	return r.Wait(ctx)
}

// refuse checks what the store did about an injected fault that failed
// the run with err. A failed fdatasync cannot be undone: err must be
// ErrFailed, and the store must refuse a change even once the disk works
// again. A failed write is undone by the store: err must not be
// ErrFailed, and once the disk works again the store must take a change.
// Then it reports "refused" and exits with exitRefused; the parent reopens
// the store in a new invocation, where the run must go on.
func refuse(ctx context.Context, p *prog, fs *store.File, faulty *faultfs.Faulty, err error) error {
	poisoned := false
	for _, op := range faulty.Faults() {
		if op.Kind != faultfs.OpWrite {
			poisoned = true
		}
	}
	if errors.Is(err, store.ErrFailed) != poisoned {
		return fmt.Errorf("after injected faults %v the run failed with %w (want store.ErrFailed: %v)", faulty.Faults(), err, poisoned)
	}
	faulty.SetInjector(nil)
	var probe error
	if info, gerr := fs.Get(ctx, RunID); gerr == nil {
		// Accepted, this changes nothing: the same Meta, no records.
		probe = fs.Append(ctx, store.Batch{RunID: RunID, Expected: info.LastSeq, Meta: info.Meta})
	} else {
		probe = fs.Create(ctx, store.RunInfo{ID: RunID + "-probe", Agent: "probe"}, nil)
	}
	if poisoned && !errors.Is(probe, store.ErrFailed) {
		return fmt.Errorf("after injected faults %v the store took a change: %v, want store.ErrFailed", faulty.Faults(), probe)
	}
	if !poisoned && probe != nil {
		return fmt.Errorf("after an undone write fault %v the store refused a change: %v", faulty.Faults(), probe)
	}
	p.events.report(Event{Ev: "refused", Err: err.Error()})
	if cerr := fs.Close(); cerr != nil {
		return cerr
	}
	os.Exit(exitRefused)
	return nil
}
