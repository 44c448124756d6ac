package ratchettest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet"
)

// Reply is one scripted model call: a response, or a fault.
type Reply struct {
	// Response is returned when Err is nil and Panic is nil.
	Response *ratchet.Response
	// Err, when set, is returned instead of a response.
	Err error
	// Delay waits before answering (or until the call's context ends, in
	// which case the context's error is returned).
	Delay time.Duration
	// Panic, when not nil, makes the call panic with this value.
	Panic any
}

// Model is a scripted ratchet.Model. Each call consumes the next Reply of
// its script (or asks Func), records the Request, and answers. It is safe
// for concurrent use.
type Model struct {
	tb TB

	mu      sync.Mutex
	script  []Reply
	next    int
	fn      func(ctx context.Context, call int, req *ratchet.Request) Reply
	reqs    []*ratchet.Request
	calls   int
	latency time.Duration
	norec   bool
}

// TB is the part of testing.TB the scripted Model reports misuse to;
// *testing.T and *testing.B satisfy it, and ExampleTB serves Example
// functions and programs.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// ExampleTB is a TB for code outside tests: it prints misuse to stderr.
type ExampleTB struct{}

// Helper does nothing.
func (*ExampleTB) Helper() {}

// Errorf prints the message to stderr.
func (*ExampleTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// NewModel returns a Model that answers with replies in order. A call after
// the last reply fails the test and returns an error.
func NewModel(t TB, replies ...Reply) *Model {
	t.Helper()
	return &Model{tb: t, script: replies}
}

// NewModelFunc returns a Model that asks fn for each reply; call counts
// from 0. fn must be safe for concurrent use when the model is shared.
func NewModelFunc(t TB, fn func(ctx context.Context, call int, req *ratchet.Request) Reply) *Model {
	t.Helper()
	return &Model{tb: t, fn: fn}
}

// WithLatency makes every call wait d (on real time, ending early when the
// call's context does) before answering, and returns m.
func (m *Model) WithLatency(d time.Duration) *Model {
	m.latency = d
	return m
}

// WithoutRecording makes m keep no copy of the requests it receives, and
// returns m: Requests then returns none, while Calls still counts every
// call. Recording deep-copies each request, which in benchmarks with many
// calls costs more than the code under test.
func (m *Model) WithoutRecording() *Model {
	m.norec = true
	return m
}

// Generate implements ratchet.Model.
func (m *Model) Generate(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	var c *ratchet.Request
	if !m.norec {
		c = cloneRequest(req) // outside the lock: concurrent calls do not queue on it
	}
	m.mu.Lock()
	call := m.calls
	m.calls++
	if c != nil {
		m.reqs = append(m.reqs, c)
	}
	var r Reply
	switch {
	case m.fn != nil:
		m.mu.Unlock()
		r = m.fn(ctx, call, req)
	case m.next < len(m.script):
		r = m.script[m.next]
		m.next++
		m.mu.Unlock()
	default:
		m.mu.Unlock()
		m.tb.Errorf("ratchettest: model called %d times, but the script has %d replies", call+1, len(m.script))
		return nil, fmt.Errorf("ratchettest: script exhausted at call %d", call+1)
	}
	if d := m.latency + r.Delay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if r.Panic != nil {
		panic(r.Panic)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	if r.Response == nil {
		m.tb.Errorf("ratchettest: reply %d has no response and no error", call+1)
		return nil, fmt.Errorf("ratchettest: empty reply %d", call+1)
	}
	resp := *r.Response
	resp.Message.ToolCalls = append([]ratchet.ToolCall(nil), resp.Message.ToolCalls...)
	return &resp, nil
}

// Requests returns copies of the requests received so far, in order (none
// after WithoutRecording).
func (m *Model) Requests() []*ratchet.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*ratchet.Request(nil), m.reqs...)
}

// Calls returns how many times Generate was called.
func (m *Model) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Remaining returns how many scripted replies are left.
func (m *Model) Remaining() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.script) - m.next
}

func cloneRequest(r *ratchet.Request) *ratchet.Request {
	c := *r
	c.Messages = make([]ratchet.Message, len(r.Messages))
	for i, msg := range r.Messages {
		c.Messages[i] = msg
		c.Messages[i].ToolCalls = append([]ratchet.ToolCall(nil), msg.ToolCalls...)
	}
	c.Tools = append([]ratchet.ToolSpec(nil), r.Tools...)
	return &c
}

// Text is a reply with a final answer.
func Text(s string) Reply {
	return Reply{Response: &ratchet.Response{
		Message:      ratchet.Message{Role: ratchet.RoleAssistant, Content: s},
		FinishReason: ratchet.FinishStop,
		Usage:        ratchet.Usage{InputTokens: 10, OutputTokens: 5},
	}}
}

// Call is a tool call for ToolCalls: name and raw arguments.
type Call struct {
	Name string
	Args string
}

// ToolCalls is a reply asking for the given calls, with IDs call_1,
// call_2, ...
func ToolCalls(calls ...Call) Reply {
	tc := make([]ratchet.ToolCall, len(calls))
	for i, c := range calls {
		tc[i] = ratchet.ToolCall{ID: "call_" + strconv.Itoa(i+1), Name: c.Name, Arguments: c.Args}
	}
	return Reply{Response: &ratchet.Response{
		Message:      ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: tc},
		FinishReason: ratchet.FinishToolCalls,
		Usage:        ratchet.Usage{InputTokens: 10, OutputTokens: 5},
	}}
}

// ToolCall is a reply asking for one call of name with args encoded as
// JSON (args may also be a string of raw JSON).
func ToolCall(t testing.TB, name string, args any) Reply {
	t.Helper()
	raw, ok := args.(string)
	if !ok {
		b, err := json.Marshal(args)
		if err != nil {
			t.Fatalf("ratchettest: encoding arguments of %s: %v", name, err)
		}
		raw = string(b)
	}
	return ToolCalls(Call{Name: name, Args: raw})
}

// Fail is a reply that returns err.
func Fail(err error) Reply { return Reply{Err: err} }
