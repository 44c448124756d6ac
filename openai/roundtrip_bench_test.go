package openai

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

type weatherArgs struct {
	Location string `json:"location" jsonschema:"description=The city and state, e.g. San Francisco, CA"`
	Unit     string `json:"unit,omitempty" jsonschema:"enum=celsius,enum=fahrenheit"`
}

// BenchmarkOpenAIRoundTrip is one whole ratchet step through an httptest
// server speaking the OpenAI format: call the model (one tool call in the
// answer, recording 01), validate the arguments, run the tool, persist every
// record (memory store). Each step is the first of a fresh run, so the
// request is the same size as the floor's. Compare with BenchmarkGoOpenAIFloor,
// the plain go-openai call it wraps.
func BenchmarkOpenAIRoundTrip(b *testing.B) {
	srv := benchServer(b)
	m, err := New(Config{Model: "gpt-3.5-turbo", APIKey: "sk-bench", BaseURL: srv.URL})
	require.NoError(b, err)
	tool := ratchet.NewTool("getCurrentWeather", "Get the current weather in a given location",
		func(ctx context.Context, in weatherArgs) (string, error) {
			return "72F and sunny in " + in.Location, nil
		})
	ctx := context.Background()
	// Starting runs is not part of the step: they are started in batches,
	// off the clock, each batch on a fresh store so the heap stays small.
	const batch = 256
	var runs []*ratchet.Run
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%batch == 0 {
			b.StopTimer()
			a, err := ratchet.NewAgent(ratchet.Config{Name: "weather", Model: m, Store: store.NewMemory(), Tools: []ratchet.Tool{tool}})
			require.NoError(b, err)
			runs = runs[:0]
			for j := 0; j < batch; j++ {
				r, err := a.Start(ctx, "What is the weather like in Boston?", &ratchet.RunOptions{ID: "r" + strconv.Itoa(j)})
				require.NoError(b, err)
				runs = append(runs, r)
			}
			b.StartTimer()
		}
		st, err := runs[i%batch].Step(ctx)
		if err != nil || len(st.Results()) != 1 || st.Results()[0].IsError {
			b.Fatal(err, st)
		}
	}
}
