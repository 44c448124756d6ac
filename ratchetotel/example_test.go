package ratchetotel_test

import (
	"context"
	"fmt"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchetotel"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// A run traced into an in-memory exporter: one run span, a span per step,
// and a chat or execute_tool span per model or tool call.
func Example() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	obs := ratchetotel.New(tp, nil)
	defer obs.Close()

	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "shout", Args: `{"text":"hi"}`}),
		ratchettest.Text("HI"),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:      "shouter",
		Model:     model,
		ModelName: "gpt-4o",
		Tools: []ratchet.Tool{ratchet.NewTool("shout", "Upper-cases text.", func(ctx context.Context, in struct {
			Text string `json:"text"`
		}) (string, error) {
			return strings.ToUpper(in.Text), nil
		})},
		NewID:    func() string { return "run-7" },
		Observer: obs,
	})
	if err != nil {
		panic(err)
	}
	if _, err := agent.Run(context.Background(), "shout hi", nil); err != nil {
		panic(err)
	}

	// Print the span tree; children in the order they ended.
	spans := exp.GetSpans()
	var print func(parent trace.SpanID, depth int)
	print = func(parent trace.SpanID, depth int) {
		for _, s := range spans {
			if s.Parent.SpanID() == parent {
				fmt.Printf("%s%s\n", strings.Repeat("  ", depth), s.Name)
				print(s.SpanContext.SpanID(), depth+1)
			}
		}
	}
	print(trace.SpanID{}, 0)
	// Output:
	// invoke_agent shouter
	//   ratchet.step
	//     chat gpt-4o
	//     execute_tool shout
	//   ratchet.step
	//     chat gpt-4o
}
