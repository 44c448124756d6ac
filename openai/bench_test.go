package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// benchServer answers every request with recording 01 (one tool call),
// compacted, as a real server sends it.
func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	rec := loadRecording(b, "01_openai_single_tool_call.json")
	body, err := json.Marshal(rec.Response.Body)
	require.NoError(b, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

const benchSchema = `{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}`

// BenchmarkGoOpenAIFloor is the floor: the same exchange as
// BenchmarkGenerate made with go-openai's own client.
func BenchmarkGoOpenAIFloor(b *testing.B) {
	srv := benchServer(b)
	cfg := goopenai.DefaultConfig("sk-bench")
	cfg.BaseURL = srv.URL
	client := goopenai.NewClientWithConfig(cfg)
	req := goopenai.ChatCompletionRequest{
		Model:    "gpt-3.5-turbo",
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "What is the weather like in Boston?"}},
		Tools: []goopenai.Tool{{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{
			Name: "getCurrentWeather", Description: "Get the current weather in a given location", Parameters: json.RawMessage(benchSchema),
		}}},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.CreateChatCompletion(ctx, req)
		if err != nil || len(resp.Choices[0].Message.ToolCalls) != 1 {
			b.Fatal(err)
		}
	}
}

// benchModel returns a Model over a benchServer.
func benchModel(b *testing.B) *Model {
	m, err := New(Config{Model: "gpt-3.5-turbo", APIKey: "sk-bench", BaseURL: benchServer(b).URL})
	require.NoError(b, err)
	return m
}

// benchRequest is the request of the floor's exchange.
func benchRequest() *ratchet.Request {
	return &ratchet.Request{
		Messages: []ratchet.Message{{Role: ratchet.RoleUser, Content: "What is the weather like in Boston?"}},
		Tools: []ratchet.ToolSpec{{
			Name: "getCurrentWeather", Description: "Get the current weather in a given location", Parameters: json.RawMessage(benchSchema),
		}},
	}
}

// BenchmarkGenerate is one non-streamed Generate returning one tool call.
func BenchmarkGenerate(b *testing.B) {
	m, req := benchModel(b), benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := m.Generate(ctx, req)
		if err != nil || len(resp.Message.ToolCalls) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateStream is the same exchange streamed (recording 06).
func BenchmarkGenerateStream(b *testing.B) {
	rec := loadRecording(b, "06_openai_stream_tool_call_split_args.json")
	srv := newReplayServer(b, rec)
	m, err := New(Config{Model: "gpt-4o-mini", BaseURL: srv.URL, Stream: true})
	require.NoError(b, err)
	req := userRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := m.Generate(ctx, req)
		if err != nil || len(resp.Message.ToolCalls) != 1 {
			b.Fatal(err)
		}
	}
}
