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
// server speaking the OpenAI format: start a run, call the model (one tool
// call in the answer, recording 01), validate the arguments, run the tool,
// persist every record (memory store). Compare with BenchmarkGoOpenAIFloor,
// the plain go-openai call it wraps.
func BenchmarkOpenAIRoundTrip(b *testing.B) {
	srv := benchServer(b)
	m, err := New(Config{Model: "gpt-3.5-turbo", APIKey: "sk-bench", BaseURL: srv.URL})
	require.NoError(b, err)
	a, err := ratchet.NewAgent(ratchet.Config{
		Name: "weather", Model: m, Store: store.NewMemory(),
		Tools: []ratchet.Tool{ratchet.NewTool("getCurrentWeather", "Get the current weather in a given location",
			func(ctx context.Context, in weatherArgs) (string, error) {
				return "72F and sunny in " + in.Location, nil
			})},
	})
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		run, err := a.Start(ctx, "What is the weather like in Boston?", &ratchet.RunOptions{ID: "r" + strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		st, err := run.Step(ctx)
		if err != nil || len(st.Results()) != 1 || st.Results()[0].IsError {
			b.Fatal(err, st)
		}
	}
}
