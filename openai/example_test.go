package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/openai"
)

// Example calls a model with one tool, streaming the answer text to
// stdout as it arrives. It needs a real endpoint, so it has no output to
// check.
func Example() {
	m, err := openai.New(openai.Config{
		Model:  "gpt-4o-mini",
		APIKey: os.Getenv("OPENAI_API_KEY"),
		// BaseURL: "http://localhost:11434/v1", for Ollama, and so on.
		Stream: true,
		OnDelta: func(ctx context.Context, text string) {
			fmt.Print(text)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := m.Generate(ctx, &ratchet.Request{
		Messages: []ratchet.Message{
			{Role: ratchet.RoleSystem, Content: "Answer briefly."},
			{Role: ratchet.RoleUser, Content: "What is the weather in Oslo?"},
		},
		Tools: []ratchet.ToolSpec{{
			Name:        "get_weather",
			Description: "Get the current weather in a city",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		}},
	})
	if me, ok := errors.AsType[*ratchet.ModelError](err); ok {
		log.Fatalf("%s (retryable: %v, retry after %s)", me, me.Retryable(), me.RetryAfter)
	} else if err != nil {
		log.Fatal(err)
	}
	for _, c := range resp.Message.ToolCalls {
		fmt.Printf("call %s: %s(%s)\n", c.ID, c.Name, c.Arguments)
	}
	fmt.Println(resp.FinishReason, resp.Usage.Total())
}
