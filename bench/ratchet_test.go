package bench

import (
	"context"
	"strconv"
	"testing"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/openai"
	"github.com/ratchet-run/ratchet/store"
)

// ratchetModel is the fake model behind ratchet.Model.
type ratchetModel struct{ k int }

func (m ratchetModel) Generate(_ context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	done := 0
	for i := range req.Messages {
		if req.Messages[i].Role == ratchet.RoleTool {
			done++
		}
	}
	resp := &ratchet.Response{Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}}
	resp.Message.Role = ratchet.RoleAssistant
	if WantTool(done, m.k) {
		resp.Message.ToolCalls = []ratchet.ToolCall{{ID: CallID(done + 1), Name: ToolName, Arguments: Args}}
		resp.FinishReason = ratchet.FinishToolCalls
	} else {
		resp.Message.Content = Answer
		resp.FinishReason = ratchet.FinishStop
	}
	return resp, nil
}

var ratchetTool = ratchet.NewTool(ToolName, ToolDesc, func(_ context.Context, in AddIn) (int, error) {
	return Add(in.A, in.B), nil
})

func newRatchetAgent(tb testing.TB, m ratchet.Model, s store.Store, budget ratchet.Budget) *ratchet.Agent {
	tb.Helper()
	a, err := ratchet.NewAgent(ratchet.Config{Name: "bench", Model: m, Tools: []ratchet.Tool{ratchetTool}, Store: s, Budget: budget})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// rotateEvery bounds how many runs one store holds during a benchmark, so
// that a long benchmark does not grow one store without limit.
const rotateEvery = 1000

// ratchetRunner runs the workload on Ratchet with the fake model and a
// store from newStore.
func ratchetRunner(tb testing.TB, k int, newStore func() store.Store) func() {
	return ratchetModelRunner(tb, k, ratchetModel{k}, newStore)
}

// ratchetModelRunner runs the workload on Ratchet with model m and a store
// from newStore.
func ratchetModelRunner(tb testing.TB, k int, m ratchet.Model, newStore func() store.Store) func() {
	ctx := context.Background()
	budget := ratchet.Budget{MaxSteps: k + 10}
	var a *ratchet.Agent
	n := 0
	return func() {
		if n%rotateEvery == 0 {
			if a != nil {
				if c, ok := a.Store().(interface{ Close() error }); ok {
					_ = c.Close()
				}
			}
			a = newRatchetAgent(tb, m, newStore(), budget)
		}
		n++
		out, err := a.Run(ctx, Prompt, nil)
		if err != nil || out != Answer {
			tb.Fatalf("ratchet: %q, %v", out, err)
		}
	}
}

// ratchetHTTPModel is Ratchet's OpenAI adapter against the server at url.
func ratchetHTTPModel(tb testing.TB, url string) ratchet.Model {
	tb.Helper()
	m, err := openai.New(openai.Config{Model: "fake", APIKey: "test", BaseURL: url})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func memStore() store.Store { return store.NewMemory(nil) }

func fileStore(tb testing.TB) func() store.Store {
	i := 0
	dir := tb.TempDir()
	return func() store.Store {
		i++
		s, err := store.NewFile(dir+"/"+strconv.Itoa(i), nil)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}
