package ratchet_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// TestScenarios runs the transcripts of testdata/steps: each file is a
// scenario named by what it proves, a script of commands with the output
// each gives under it (Step.String for a step), in the manner of raft's
// interaction tests. Rewrite the outputs with
//
//	go test -run Scenario -update
//
// and read the diff: it is the change in behaviour. A file is a sequence
// of blocks separated by blank lines; a block is optional "#" comment
// lines, one or more command lines, a "----" line and the output of its
// commands. The commands are documented on scenario.exec.
func TestScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "steps", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScenarioFile(t, path)
		})
	}
}

// scenarioUpdate reports whether -update was given. The flag is golden_test.go's
// (one flag refreshes every transcript); it is looked up rather than named
// so that this file does not depend on that one's declarations.
func scenarioUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// scenarioBlock is one block of a transcript file.
type scenarioBlock struct {
	line     int // of the first command
	comments []string
	cmds     []string
	want     string
}

// parseScenario parses a transcript file into its blocks.
func parseScenario(t *testing.T, path string, data string) []scenarioBlock {
	t.Helper()
	var blocks []scenarioBlock
	var cur scenarioBlock
	inOutput := false
	var out []string
	flush := func() {
		cur.want = strings.Join(out, "\n")
		blocks = append(blocks, cur)
		cur, out, inOutput = scenarioBlock{}, nil, false
	}
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimRight(sc.Text(), " \t")
		switch {
		case inOutput && l == "":
			flush()
		case inOutput:
			out = append(out, l)
		case l == "":
			if len(cur.cmds) > 0 {
				t.Fatalf("%s:%d: blank line before the block's ---- line", path, n)
			}
		case l == "----":
			if len(cur.cmds) == 0 {
				t.Fatalf("%s:%d: ---- without a command", path, n)
			}
			inOutput = true
		case strings.HasPrefix(l, "#"):
			if len(cur.cmds) > 0 {
				t.Fatalf("%s:%d: comment among commands", path, n)
			}
			cur.comments = append(cur.comments, l)
		default:
			if len(cur.cmds) == 0 {
				cur.line = n
			}
			cur.cmds = append(cur.cmds, l)
		}
	}
	require.NoError(t, sc.Err())
	switch {
	case inOutput:
		flush()
	case len(cur.cmds) > 0:
		t.Fatalf("%s:%d: commands without a ---- line", path, cur.line)
	}
	return blocks
}

func runScenarioFile(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	blocks := parseScenario(t, path, string(data))
	s := newScenario(t)
	var rewritten strings.Builder
	for i := range blocks {
		b := &blocks[i]
		var out strings.Builder
		for j, cmd := range b.cmds {
			text, err := s.exec(cmd)
			if err != nil {
				t.Fatalf("%s:%d: %s: %v", path, b.line+j, cmd, err)
			}
			out.WriteString(text)
		}
		got := strings.TrimRight(out.String(), "\n")
		if got == "" {
			got = "ok"
		}
		if strings.Contains(got, "\n\n") {
			t.Fatalf("%s:%d: output has a blank line:\n%s", path, b.line, got)
		}
		if scenarioUpdate() {
			for _, c := range b.comments {
				rewritten.WriteString(c + "\n")
			}
			rewritten.WriteString(strings.Join(b.cmds, "\n") + "\n----\n" + got + "\n\n")
			continue
		}
		if got != b.want {
			t.Errorf("%s:%d: %s\noutput differs (want -, got +):\n%s", path, b.line, strings.Join(b.cmds, "; "), scenarioDiff(b.want, got))
			return // later blocks depend on this one
		}
	}
	if scenarioUpdate() {
		require.NoError(t, os.WriteFile(path, []byte(strings.TrimSuffix(rewritten.String(), "\n")), 0o644))
	}
}

// scenarioDiff is a line diff, good enough to read a changed transcript.
func scenarioDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		b.WriteString("  " + w[i] + "\n")
		i++
	}
	for _, l := range w[i:] {
		b.WriteString("- " + l + "\n")
	}
	for _, l := range g[i:] {
		b.WriteString("+ " + l + "\n")
	}
	return b.String()
}

// scenarioOwner is the lease owner of every Agent of a scenario: stable
// across a crash, as a restarted process's host name is, so that the
// restarted process takes its runs' leases back at once.
const scenarioOwner = "proc"

// scenario is the interpreter's state: a File store in a temporary
// directory and the "process" over it (the Agent and its Run), which a
// crash replaces; a scripted model and scripted tools, which outlive it.
type scenario struct {
	t     *testing.T
	dir   string
	clock *ratchettest.Clock
	set   scenarioSettings

	file  *store.File
	proc  *scenarioStore
	agent *ratchet.Agent
	run   *ratchet.Run
	runID string

	mu         sync.Mutex
	replies    []ratchettest.Reply
	replyCount int // replies queued so far, for call IDs
	modelCalls int
	lastReq    []ratchet.Message
	behaviours map[string][]string
	events     []string
	cancelStep context.CancelFunc
}

// scenarioSettings are the agent's configuration, set by the agent command.
type scenarioSettings struct {
	budget     ratchet.Budget
	parse      ratchet.ParsePolicy
	retryTries int
	onToolErr  ratchet.ToolErrorAction
	owner      string // scenarioOwner when empty
}

func newScenario(t *testing.T) *scenario {
	s := &scenario{t: t, dir: t.TempDir(), clock: ratchettest.NewClock(ratchettest.Epoch()), runID: "r1",
		behaviours: map[string][]string{}}
	s.open()
	t.Cleanup(func() { _ = s.file.Close() })
	return s
}

// open opens the store, as a new process does, and makes the agent.
func (s *scenario) open() {
	f, err := store.NewFile(s.dir, nil)
	require.NoError(s.t, err)
	s.file = f
	s.proc = &scenarioStore{File: f, died: func(what string) { s.event("%s", what) }}
	require.NoError(s.t, s.newAgent())
}

func (s *scenario) newAgent() error {
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "scenario", Model: ratchettest.NewModelFunc(s.t, s.generate), Tools: s.tools(), Store: s.proc,
		Clock: s.clock, NewID: func() string { return s.runID }, Random: func() float64 { return 0 },
		Owner: cmp.Or(s.set.owner, scenarioOwner), LeaseTTL: time.Hour, MaxParallelTools: 1, OnToolError: s.set.onToolErr,
		Budget: s.set.budget, Parse: s.set.parse, Retry: ratchet.RetryPolicy{MaxAttempts: s.set.retryTries},
	})
	if err != nil {
		return err
	}
	s.agent = a
	return nil
}

func (s *scenario) event(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "> "+fmt.Sprintf(format, args...))
}

// takeEvents returns the events since the last call, one per line.
func (s *scenario) takeEvents() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return ""
	}
	out := strings.Join(s.events, "\n") + "\n"
	s.events = nil
	return out
}

// errScenarioScriptEmpty is the model's answer when no reply is queued.
var errScenarioScriptEmpty = &ratchet.ModelError{Kind: ratchet.ModelBadRequest, Message: "the scenario queued no reply"}

// generate is the model: it answers with the next queued reply.
func (s *scenario) generate(_ context.Context, _ int, req *ratchet.Request) ratchettest.Reply {
	s.mu.Lock()
	s.modelCalls++
	n := s.modelCalls
	s.lastReq = slices.Clone(req.Messages)
	var r ratchettest.Reply
	empty := len(s.replies) == 0
	if empty {
		r = ratchettest.Reply{Err: errScenarioScriptEmpty}
	} else {
		r = s.replies[0]
		s.replies = s.replies[1:]
	}
	s.mu.Unlock()
	what := "no reply queued"
	switch {
	case empty:
	case r.Err != nil:
		what = "error"
	case len(r.Response.Message.ToolCalls) > 0:
		what = fmt.Sprintf("%d tool calls", len(r.Response.Message.ToolCalls))
	default:
		what = "text"
	}
	tools := "with tools"
	if len(req.Tools) == 0 {
		tools = "without tools"
	}
	s.event("model call %d (%s): %s", n, tools, what)
	return r
}

type scenarioAddIn struct {
	A int `json:"a"`
	B int `json:"b"`
}

type scenarioTextIn struct {
	Text string `json:"text"`
}

// tools returns the scenario's tools: add (idempotent), note (not
// idempotent), deploy (needs approval) and ask (asks a person a number).
// What a call does is the next behaviour queued for the tool by the tool
// command, "ok" when none is.
func (s *scenario) tools() []ratchet.Tool {
	return []ratchet.Tool{
		ratchet.NewTool("add", "Adds a and b.", func(ctx context.Context, in scenarioAddIn) (string, error) {
			return s.callTool(ctx, "add", strconv.Itoa(in.A+in.B))
		}, ratchet.Idempotent()),
		ratchet.NewTool("note", "Writes a note (not idempotent).", func(ctx context.Context, in scenarioTextIn) (string, error) {
			return s.callTool(ctx, "note", "noted "+in.Text)
		}),
		ratchet.NewTool("deploy", "Deploys (needs approval).", func(ctx context.Context, in scenarioTextIn) (string, error) {
			return s.callTool(ctx, "deploy", "deployed "+in.Text)
		}, ratchet.NeedsApproval()),
		ratchet.NewTool("ask", "Asks a person how many.", func(ctx context.Context, in scenarioTextIn) (string, error) {
			if _, err := s.callTool(ctx, "ask", ""); err != nil {
				return "", err
			}
			return "", ratchet.Interrupt(ratchet.Question{Prompt: "How many " + in.Text + "?",
				Schema: json.RawMessage(`{"type":"integer","minimum":1}`)})
		}),
	}
}

// callTool runs the next behaviour queued for tool: ok (return result),
// fail MESSAGE, panic MESSAGE, or cancel (cancel the context of the step in
// progress, as a caller giving up does, and wait for the call's context).
func (s *scenario) callTool(ctx context.Context, tool, result string) (string, error) {
	s.mu.Lock()
	b := "ok"
	if q := s.behaviours[tool]; len(q) > 0 {
		b, s.behaviours[tool] = q[0], q[1:]
	}
	cancel := s.cancelStep
	s.mu.Unlock()
	key := ratchet.IdempotencyKey(ctx)
	verb, arg, _ := strings.Cut(b, " ")
	s.event("tool %s key=%s: %s", tool, key, b)
	switch verb {
	case "fail":
		return "", errors.New(arg)
	case "panic":
		panic(arg)
	case "cancel":
		cancel()
		<-ctx.Done()
		return "", ctx.Err()
	}
	return result, nil
}

// scenarioStore is the store as the scenario's process sees it: it dies
// (every write fails, nothing more is written) when the armed crash point
// is reached, as a killed process writes nothing more.
type scenarioStore struct {
	*store.File

	mu   sync.Mutex
	dead bool
	// kind and after are the armed crash point: the process dies before
	// (or right after) appending a batch holding a record of kind.
	kind  ratchet.RecordKind
	after bool
	// died is told when the process dies.
	died func(what string)
}

// errScenarioDied is every write's error once the process has died.
var errScenarioDied = errors.New("scenario: the process died")

func (p *scenarioStore) isDead() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return errScenarioDied
	}
	return nil
}

func (p *scenarioStore) Append(ctx context.Context, b store.Batch) error {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return errScenarioDied
	}
	hit := false
	for i, data := range b.Records {
		rec, err := ratchet.DecodeRecord(b.Expected+uint64(i)+1, data)
		if err == nil && p.kind != "" && rec.Kind == p.kind {
			hit = true
		}
	}
	if hit && !p.after {
		p.dead = true
		p.mu.Unlock()
		p.died(fmt.Sprintf("the process died before appending %s (seq %d)", p.kind, b.Expected+1))
		return errScenarioDied
	}
	p.mu.Unlock()
	if err := p.File.Append(ctx, b); err != nil {
		return err
	}
	if hit {
		p.mu.Lock()
		p.dead = true
		p.mu.Unlock()
		seqs := strconv.FormatUint(b.Expected+1, 10)
		if n := len(b.Records); n > 1 {
			seqs += "-" + strconv.FormatUint(b.Expected+uint64(n), 10)
		}
		p.died(fmt.Sprintf("the process died after appending %s (seq %s)", p.kind, seqs))
		return errScenarioDied
	}
	return nil
}

func (p *scenarioStore) Create(ctx context.Context, info store.RunInfo, recs [][]byte) error {
	if err := p.isDead(); err != nil {
		return err
	}
	return p.File.Create(ctx, info, recs)
}

func (p *scenarioStore) AcquireLease(ctx context.Context, id, owner string, now, until time.Time) (store.Lease, error) {
	if err := p.isDead(); err != nil {
		return store.Lease{}, err
	}
	return p.File.AcquireLease(ctx, id, owner, now, until)
}

func (p *scenarioStore) RenewLease(ctx context.Context, id string, l store.Lease, until time.Time) (store.Lease, error) {
	if err := p.isDead(); err != nil {
		return store.Lease{}, err
	}
	return p.File.RenewLease(ctx, id, l, until)
}

func (p *scenarioStore) ReleaseLease(ctx context.Context, id string, l store.Lease) error {
	if err := p.isDead(); err != nil {
		return err
	}
	return p.File.ReleaseLease(ctx, id, l)
}

func (p *scenarioStore) Delete(ctx context.Context, id string) error {
	if err := p.isDead(); err != nil {
		return err
	}
	return p.File.Delete(ctx, id)
}

// scenarioKinds are the record kinds a crash point may name.
var scenarioKinds = []ratchet.RecordKind{
	ratchet.RecModelResponded, ratchet.RecModelFailed, ratchet.RecToolStarted, ratchet.RecToolFinished,
	ratchet.RecToolFailed, ratchet.RecRepair, ratchet.RecWindDown, ratchet.RecRunPaused, ratchet.RecRunResumed,
	ratchet.RecRunCompleted, ratchet.RecRunFailed, ratchet.RecInterrupted, ratchet.RecAnswered,
}

// exec runs one command and returns its output. The tools are add
// (idempotent), note (not idempotent), deploy (needs approval) and ask (a
// question); the run is r1. The commands:
//
//	agent [max_steps=N] [max_tool_calls=N] [wind_down] [max_repairs=N]
//	      [max_calls=N] [retry_attempts=N] [tool_errors=ACTION] [owner=NAME]
//	                        configure the agent (from now on, and after crashes);
//	                        owner=NAME makes it another process's (lease owner)
//	advance D               move the fake clock forward by D
//	model tool NAME ARGS [NAME ARGS ...]
//	                        queue a reply asking for tool calls (ARGS raw, no spaces)
//	model text WORDS        queue a final answer
//	model error KIND [retry_after=D]
//	                        queue a failed call (a *ModelError of KIND)
//	tool NAME ok|fail MSG|panic MSG|cancel
//	                        queue what the next call of tool NAME does
//	start                   start run r1 (Agent.Start)
//	step                    one Run.Step: the model and tool calls it made, the Step
//	wait                    step until the run rests or a step fails
//	die before|after KIND   the process dies before (after) appending KIND
//	crash                   the process is gone: the Run is dropped unclosed, the
//	                        store reopened by a new process (a new Agent)
//	resume                  load the run (Agent.Resume)
//	answer ID yes|no [REASON] / answer ID value JSON
//	                        answer an interrupt (AnswerRun, as the CLI does)
//	cancel REASON           cancel the run (CancelRun, as the CLI does)
//	retry [max_steps=N ...] retry a paused run with a raised budget (RetryRun)
//	pending                 the run's pending interrupts
//	request                 the messages of the last model request
//	log                     the run's records in the store, and its index entry
func (s *scenario) exec(line string) (string, error) {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	ctx := context.Background()
	switch cmd {
	case "agent":
		return "", s.configure(args)
	case "model":
		return "", s.queueReply(line, args)
	case "tool":
		if len(args) < 2 || !slices.Contains([]string{"add", "note", "deploy", "ask"}, args[0]) {
			return "", errors.New("usage: tool add|note|deploy|ask BEHAVIOUR")
		}
		if !slices.Contains([]string{"ok", "fail", "panic", "cancel"}, args[1]) {
			return "", fmt.Errorf("unknown behaviour %q", args[1])
		}
		s.mu.Lock()
		s.behaviours[args[0]] = append(s.behaviours[args[0]], strings.Join(args[1:], " "))
		s.mu.Unlock()
		return "", nil
	case "start":
		r, err := s.agent.Start(ctx, "go", nil)
		if err != nil {
			return "error: " + scenarioErr(err) + "\n", nil
		}
		s.run = r
		return s.describeRun(), nil
	case "step":
		if s.run == nil {
			return "", errors.New("no run: start or resume first")
		}
		out, _ := s.step()
		return out, nil
	case "wait":
		if s.run == nil {
			return "", errors.New("no run: start or resume first")
		}
		var b strings.Builder
		for i := 0; ; i++ {
			if i == 50 {
				return "", errors.New("wait: 50 steps and the run still runs")
			}
			out, err := s.step()
			b.WriteString(out)
			if s.run.Status() != ratchet.StatusRunning || err != nil {
				return b.String(), nil
			}
		}
	case "die":
		if len(args) != 2 || (args[0] != "before" && args[0] != "after") ||
			!slices.Contains(scenarioKinds, ratchet.RecordKind(args[1])) {
			return "", errors.New("usage: die before|after RECORD_KIND")
		}
		s.proc.mu.Lock()
		s.proc.kind, s.proc.after = ratchet.RecordKind(args[1]), args[0] == "after"
		s.proc.mu.Unlock()
		return "", nil
	case "advance":
		if len(args) != 1 {
			return "", errors.New("usage: advance DURATION")
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return "", err
		}
		s.clock.Advance(d)
		return "", nil
	case "crash":
		s.proc.mu.Lock()
		s.proc.dead = true
		s.proc.mu.Unlock()
		s.run = nil // dropped: not closed, its lease not released
		require.NoError(s.t, s.file.Close())
		s.open()
		return s.describeIndex(), nil
	case "resume":
		r, err := s.agent.Resume(ctx, s.runID, nil)
		if err != nil {
			return "error: " + scenarioErr(err) + "\n", nil
		}
		s.run = r
		return s.describeRun(), nil
	case "answer":
		return s.answer(args)
	case "cancel":
		st, err := ratchet.CancelRun(ctx, s.proc, s.clock, s.runID, strings.Join(args, " "))
		if err != nil {
			return "error: " + scenarioErr(err) + "\n", nil
		}
		return fmt.Sprintf("run %s status=%s\n", s.runID, st.Status), nil
	case "retry":
		var b ratchet.Budget
		if err := scenarioBudget(&b, args); err != nil {
			return "", err
		}
		st, err := ratchet.RetryRun(ctx, s.proc, s.clock, s.runID, &b)
		if err != nil {
			return "error: " + scenarioErr(err) + "\n", nil
		}
		return fmt.Sprintf("run %s status=%s\n", s.runID, st.Status), nil
	case "pending":
		st, err := ratchet.LoadState(ctx, s.proc, s.runID)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, p := range st.Interrupts {
			fmt.Fprintf(&b, "%s kind=%s tool=%s args=%s prompt=%q\n", p.ID, p.Kind, p.Tool, p.Args, p.Prompt)
		}
		if b.Len() == 0 {
			return "none\n", nil
		}
		return b.String(), nil
	case "request":
		s.mu.Lock()
		msgs := s.lastReq
		s.mu.Unlock()
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintf(&b, "%s", m.Role)
			if m.ToolCallID != "" {
				fmt.Fprintf(&b, "[%s]", m.ToolCallID)
			}
			if m.Content != "" {
				fmt.Fprintf(&b, " %q", m.Content)
			}
			for _, c := range m.ToolCalls {
				fmt.Fprintf(&b, " %s#%s(%s)", c.Name, c.ID, c.Arguments)
			}
			b.WriteByte('\n')
		}
		return b.String(), nil
	case "log":
		recs, err := s.file.Read(ctx, s.runID, 1)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, sr := range recs {
			rec, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "%d %s\n", sr.Seq, rec)
		}
		b.WriteString(s.describeIndex())
		return b.String(), nil
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func (s *scenario) configure(args []string) error {
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "owner":
			s.set.owner = v
			continue
		case "tool_errors":
			s.set.onToolErr = ratchet.ToolErrorAction(v)
			continue
		}
		n, err := strconv.Atoi(v)
		if v != "" && err != nil {
			return fmt.Errorf("%s: %v", a, err)
		}
		switch k {
		case "max_repairs":
			s.set.parse.MaxRepairs = n
		case "max_calls":
			s.set.parse.MaxCallsPerResponse = n
		case "retry_attempts":
			s.set.retryTries = n
		default:
			if err := scenarioBudget(&s.set.budget, []string{a}); err != nil {
				return err
			}
		}
	}
	return s.newAgent()
}

// scenarioBudget sets the fields of b named in args.
func scenarioBudget(b *ratchet.Budget, args []string) error {
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		if k == "wind_down" {
			b.WindDown = true
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %v", a, err)
		}
		switch k {
		case "max_steps":
			b.MaxSteps = n
		case "max_tool_calls":
			b.MaxToolCalls = n
		default:
			return fmt.Errorf("unknown setting %q", k)
		}
	}
	return nil
}

func (s *scenario) queueReply(line string, args []string) error {
	if len(args) < 1 {
		return errors.New("usage: model tool|text|error ...")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyCount++
	var r ratchettest.Reply
	switch args[0] {
	case "tool":
		calls := args[1:]
		if len(calls) == 0 || len(calls)%2 != 0 {
			return errors.New("usage: model tool NAME ARGS [NAME ARGS ...]")
		}
		var tc []ratchettest.Call
		for i := 0; i < len(calls); i += 2 {
			tc = append(tc, ratchettest.Call{Name: calls[i], Args: calls[i+1]})
		}
		r = ratchettest.ToolCalls(tc...)
		for i := range r.Response.Message.ToolCalls {
			r.Response.Message.ToolCalls[i].ID = fmt.Sprintf("c%d_%d", s.replyCount, i)
		}
	case "text":
		_, text, _ := strings.Cut(line, " text ")
		r = ratchettest.Text(strings.TrimSpace(text))
	case "error":
		if len(args) < 2 {
			return errors.New("usage: model error KIND [retry_after=D]")
		}
		me := &ratchet.ModelError{Kind: ratchet.ModelErrorKind(args[1]), Message: "scripted " + args[1]}
		for _, a := range args[2:] {
			v, ok := strings.CutPrefix(a, "retry_after=")
			d, err := time.ParseDuration(v)
			if !ok || err != nil {
				return fmt.Errorf("bad model error option %q", a)
			}
			me.RetryAfter = d
		}
		r = ratchettest.Fail(me)
	default:
		return fmt.Errorf("unknown reply %q", args[0])
	}
	s.replies = append(s.replies, r)
	return nil
}

// step takes one step and describes it: what the model and the tools were
// asked (events), the Step, and the error, which it also returns.
func (s *scenario) step() (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.mu.Lock()
	s.cancelStep = cancel
	s.mu.Unlock()
	type result struct {
		st  ratchet.Step
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := s.run.Step(ctx)
		done <- result{st, err}
	}()
	// The fake clock moves only while the step sleeps (a retry's backoff):
	// a minute is longer than any delay the scenarios schedule.
	var res result
	for waiting := true; waiting; {
		select {
		case res = <-done:
			waiting = false
		default:
			if s.clock.WaitForWaiters(1, time.Millisecond) {
				s.clock.Advance(time.Minute)
			}
		}
	}
	var b strings.Builder
	b.WriteString(s.takeEvents())
	b.WriteString(res.st.String())
	if res.err != nil {
		fmt.Fprintf(&b, "error: %s\n", scenarioErr(res.err))
	}
	return b.String(), res.err
}

// scenarioErr describes err: its message and the typed errors and
// sentinels it matches.
func scenarioErr(err error) string {
	var kinds []string
	var (
		be *ratchet.BudgetError
		pe *ratchet.ParseError
		te *ratchet.ToolError
		me *ratchet.ModelError
	)
	if errors.As(err, &be) {
		kinds = append(kinds, "BudgetError")
	}
	if errors.As(err, &pe) {
		kinds = append(kinds, "ParseError")
	}
	if errors.As(err, &te) {
		kinds = append(kinds, "ToolError")
	}
	if errors.As(err, &me) {
		kinds = append(kinds, "ModelError")
	}
	if _, ok := errors.AsType[*ratchet.RunStatusError](err); ok {
		kinds = append(kinds, "RunStatusError")
	}
	for _, sentinel := range []struct {
		err  error
		name string
	}{
		{ratchet.ErrRunBroken, "ErrRunBroken"}, {ratchet.ErrRunEnded, "ErrRunEnded"}, {ratchet.ErrRunBusy, "ErrRunBusy"},
		{ratchet.ErrAlreadyAnswered, "ErrAlreadyAnswered"}, {ratchet.ErrInvalidAnswer, "ErrInvalidAnswer"},
		{ratchet.ErrUnknownInterrupt, "ErrUnknownInterrupt"}, {context.Canceled, "context.Canceled"}, {store.ErrConflict, "store.ErrConflict"}, {errScenarioDied, "died"},
	} {
		if errors.Is(err, sentinel.err) {
			kinds = append(kinds, sentinel.name)
		}
	}
	if len(kinds) == 0 {
		return err.Error()
	}
	return "[" + strings.Join(kinds, " ") + "] " + err.Error()
}

func (s *scenario) answer(args []string) (string, error) {
	if len(args) < 2 {
		return "", errors.New("usage: answer ID yes|no [REASON] | answer ID value JSON")
	}
	var a ratchet.Answer
	switch args[1] {
	case "yes":
		a.Approved = true
		a.Reason = strings.Join(args[2:], " ")
	case "no":
		a.Reason = strings.Join(args[2:], " ")
	case "value":
		a.Value = json.RawMessage(strings.Join(args[2:], " "))
	default:
		return "", fmt.Errorf("unknown answer %q", args[1])
	}
	if err := ratchet.AnswerRun(context.Background(), s.proc, s.clock, s.runID, args[0], a); err != nil {
		return "error: " + scenarioErr(err) + "\n", nil
	}
	return s.describeIndex(), nil
}

// describeRun describes the Run in memory.
func (s *scenario) describeRun() string {
	st := s.run.State()
	return fmt.Sprintf("run %s status=%s step=%d seq=%d\n", s.run.ID(), st.Status, st.Step, st.Seq)
}

// describeIndex describes the run's index entry in the store.
func (s *scenario) describeIndex() string {
	info, err := s.file.Get(context.Background(), s.runID)
	if errors.Is(err, store.ErrNotFound) {
		return "no run\n"
	}
	require.NoError(s.t, err)
	lease := "none"
	if info.Lease.Owner != "" {
		lease = info.Lease.Owner
	}
	return fmt.Sprintf("stored %s status=%s last_seq=%d lease=%s\n", info.ID, info.Status, info.LastSeq, lease)
}

// TestScenarioParse checks the transcript format: comments stay with their
// block, a block may hold several commands, and an output runs to the next
// blank line (or the end of the file).
func TestScenarioParse(t *testing.T) {
	t.Parallel()
	blocks := parseScenario(t, "x.txt", "# one\n# two\nmodel text hi\nstart\n----\nrun r1\n  more\n\n\nstep\n----\n")
	require.Equal(t, []scenarioBlock{
		{line: 3, comments: []string{"# one", "# two"}, cmds: []string{"model text hi", "start"}, want: "run r1\n  more"},
		{line: 10, cmds: []string{"step"}, want: ""},
	}, blocks)
}
