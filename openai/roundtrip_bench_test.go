package openai

import (
	"context"
	"strconv"
	"testing"
	"time"

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
	benchRoundTrip(b, benchModel(b), nil)
}

// BenchmarkOpenAIRoundTripSplit is BenchmarkOpenAIRoundTrip with the
// model timed from the inside: it reports how long each step spends
// before the model call (pre-ns), in it (gen-ns, the adapter's Generate
// with its HTTP exchange) and after it (post-ns: validation, the tool,
// the records). Compare gen-ns with BenchmarkGenerate and
// BenchmarkGenerateGap.
func BenchmarkOpenAIRoundTripSplit(b *testing.B) {
	m := &timedModel{inner: benchModel(b)}
	var pre, gen, post time.Duration
	benchRoundTrip(b, m, func(start, end time.Time) {
		pre += m.t0.Sub(start)
		gen += m.t1.Sub(m.t0)
		post += end.Sub(m.t1)
	})
	n := float64(b.N)
	b.ReportMetric(float64(pre)/n, "pre-ns")
	b.ReportMetric(float64(gen)/n, "gen-ns")
	b.ReportMetric(float64(post)/n, "post-ns")
}

// timedModel records when its last Generate started and ended.
type timedModel struct {
	inner  ratchet.Model
	t0, t1 time.Time
}

func (m *timedModel) Generate(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	m.t0 = time.Now()
	resp, err := m.inner.Generate(ctx, req)
	m.t1 = time.Now()
	return resp, err
}

// benchRoundTrip steps fresh runs of an agent over m, calling each (if not
// nil) with the step's start and end.
func benchRoundTrip(b *testing.B, m ratchet.Model, each func(start, end time.Time)) {
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
			a, err := ratchet.NewAgent(ratchet.Config{Name: "weather", Model: m, Store: store.NewMemory(nil), Tools: []ratchet.Tool{tool}})
			require.NoError(b, err)
			runs = runs[:0]
			for j := 0; j < batch; j++ {
				r, err := a.Start(ctx, "What is the weather like in Boston?", &ratchet.RunOptions{ID: "r" + strconv.Itoa(j)})
				require.NoError(b, err)
				runs = append(runs, r)
			}
			b.StartTimer()
		}
		start := time.Now()
		st, err := runs[i%batch].Step(ctx)
		if err != nil || len(st.Results()) != 1 || st.Results()[0].IsError {
			b.Fatal(err, st)
		}
		if each != nil {
			each(start, time.Now())
		}
	}
}

// BenchmarkGenerateGap is BenchmarkGenerate with work between the calls,
// as a step has between two model calls: 10 µs of busy waiting (spin), or
// a pass over 1 MiB of memory (touch, ~15 µs), which evicts what the
// exchange had in the CPU caches. gen-ns is the exchange alone: it gets
// slower when the client does not send the next request at once, and
// more so when the work in between used the caches.
func BenchmarkGenerateGap(b *testing.B) {
	m, req := benchModel(b), benchRequest()
	mem := make([]byte, 1<<20)
	for _, gap := range []struct {
		name string
		work func()
	}{
		{"spin", func() {
			for t := time.Now(); time.Since(t) < 10*time.Microsecond; {
			}
		}},
		{"touch", func() {
			for i := 0; i < len(mem); i += 64 {
				mem[i]++
			}
		}},
	} {
		b.Run(gap.name, func(b *testing.B) {
			ctx := context.Background()
			var gen time.Duration
			for b.Loop() {
				t := time.Now()
				if _, err := m.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
				gen += time.Since(t)
				gap.work()
			}
			b.ReportMetric(float64(gen)/float64(b.N), "gen-ns")
		})
	}
}
