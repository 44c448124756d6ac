package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// requestBundle is a Model talking to a server that answers every request
// with recording 01 and keeps what it received.
type requestBundle struct {
	srv *replayServer
	cfg Config
}

func setupRequest(t *testing.T) *requestBundle {
	t.Helper()
	srv := newReplayServer(t, loadRecording(t, "01_openai_single_tool_call.json"))
	return &requestBundle{srv: srv, cfg: Config{Model: "test-model", BaseURL: srv.URL}}
}

// send runs req through a Model made from the bundle's config (after
// adjust) and returns the JSON body the server received.
func (b *requestBundle) send(t *testing.T, adjust func(*Config), req *ratchet.Request) map[string]any {
	t.Helper()
	cfg := b.cfg
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := New(cfg)
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), req)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(b.srv.lastBody(t), &body))
	return body
}

var weatherTool = ratchet.ToolSpec{
	Name:        "get_weather",
	Description: "Get the weather",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}

func withTools(req *ratchet.Request, tools ...ratchet.ToolSpec) *ratchet.Request {
	req.Tools = tools
	return req
}

func TestRequestSampling(t *testing.T) {
	t.Parallel()
	b := setupRequest(t)
	zero, half, one := 0.0, 0.5, 1.0

	body := b.send(t, nil, userRequest())
	require.NotContains(t, body, "temperature")
	require.NotContains(t, body, "max_completion_tokens")
	require.NotContains(t, body, "max_tokens")
	require.Equal(t, "test-model", body["model"])
	require.Equal(t, false, body["stream"])
	require.NotContains(t, body, "stream_options")

	// Temperature 0 is sent (go-openai's own request type would drop it).
	req := userRequest()
	req.Temperature = &zero
	require.Equal(t, 0.0, b.send(t, nil, req)["temperature"])

	// Config defaults apply when the Request leaves a field unset, and the
	// Request wins when it sets it.
	defaults := func(c *Config) { c.Temperature = &half; c.MaxOutputTokens = 100 }
	body = b.send(t, defaults, userRequest())
	require.Equal(t, 0.5, body["temperature"])
	require.Equal(t, 100.0, body["max_completion_tokens"])
	req = userRequest()
	req.Temperature, req.MaxOutputTokens, req.Model = &one, 7, "other-model"
	body = b.send(t, defaults, req)
	require.Equal(t, 1.0, body["temperature"])
	require.Equal(t, 7.0, body["max_completion_tokens"])
	require.Equal(t, "other-model", body["model"])

	body = b.send(t, func(c *Config) { c.LegacyMaxTokens = true }, req)
	require.Equal(t, 7.0, body["max_tokens"])
	require.NotContains(t, body, "max_completion_tokens")
}

func TestRequestTools(t *testing.T) {
	t.Parallel()
	b := setupRequest(t)
	no, yes := false, true

	body := b.send(t, nil, withTools(userRequest(), weatherTool, ratchet.ToolSpec{Name: "now"}))
	require.Equal(t, []any{
		map[string]any{"type": "function", "function": map[string]any{
			"name": "get_weather", "description": "Get the weather",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []any{"city"}},
		}},
		// A tool without a schema takes no arguments.
		map[string]any{"type": "function", "function": map[string]any{
			"name": "now", "parameters": map[string]any{"type": "object", "properties": map[string]any{}},
		}},
	}, body["tools"])
	require.NotContains(t, body, "tool_choice", "auto is the default")
	require.NotContains(t, body, "parallel_tool_calls")

	body = b.send(t, func(c *Config) { c.StrictTools = true; c.ParallelToolCalls = &no }, withTools(userRequest(), weatherTool))
	require.Equal(t, true, body["tools"].([]any)[0].(map[string]any)["function"].(map[string]any)["strict"])
	require.Equal(t, false, body["parallel_tool_calls"])

	// parallel_tool_calls only goes with tools: OpenAI rejects it alone.
	body = b.send(t, func(c *Config) { c.ParallelToolCalls = &yes }, userRequest())
	require.NotContains(t, body, "parallel_tool_calls")
	require.NotContains(t, body, "tools")

	for _, tc := range []struct {
		choice ratchet.ToolChoice
		want   any
	}{
		{ratchet.ToolChoice{Mode: ratchet.ToolChoiceNone}, "none"},
		{ratchet.ToolChoice{Mode: ratchet.ToolChoiceRequired}, "required"},
		{ratchet.ToolChoice{Mode: ratchet.ToolChoiceTool, Name: "get_weather"},
			map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}},
	} {
		req := withTools(userRequest(), weatherTool)
		req.ToolChoice = tc.choice
		require.Equal(t, tc.want, b.send(t, nil, req)["tool_choice"], tc.choice.Mode)
	}
	// "none" without tools says nothing.
	req := userRequest()
	req.ToolChoice.Mode = ratchet.ToolChoiceNone
	require.NotContains(t, b.send(t, nil, req), "tool_choice")
}

func TestRequestResponseFormat(t *testing.T) {
	t.Parallel()
	b := setupRequest(t)
	req := userRequest()
	req.ResponseFormat = &ratchet.ResponseFormat{Name: "Answer", Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`), Strict: true}
	require.Equal(t, map[string]any{
		"type": "json_schema",
		"json_schema": map[string]any{
			"name":   "Answer",
			"schema": map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}},
			"strict": true,
		},
	}, b.send(t, nil, req)["response_format"])
}

func TestRequestMessages(t *testing.T) {
	t.Parallel()
	b := setupRequest(t)
	req := withTools(&ratchet.Request{Messages: []ratchet.Message{
		{Role: ratchet.RoleSystem, Content: "Be brief."},
		{Role: ratchet.RoleUser, Content: "Weather?", Name: "ana"},
		{Role: ratchet.RoleAssistant, Content: "Looking.", ToolCalls: []ratchet.ToolCall{
			{ID: "c1", Name: "get_weather", Arguments: `{"city": "Oslo"}`},
			{ID: "c2", Name: "now", Arguments: ""},
		}},
		{Role: ratchet.RoleTool, ToolCallID: "c1", Name: "get_weather", Content: "", IsError: true},
		{Role: ratchet.RoleTool, ToolCallID: "c2", Name: "now", Content: "noon"},
		{Role: ratchet.RoleAssistant, Refusal: "I can't."},
		{Role: ratchet.RoleAssistant},
	}}, weatherTool)
	require.Equal(t, []any{
		map[string]any{"role": "system", "content": "Be brief."},
		map[string]any{"role": "user", "content": "Weather?", "name": "ana"},
		map[string]any{"role": "assistant", "content": "Looking.", "tool_calls": []any{
			// Arguments go back byte for byte; empty ones as "{}".
			map[string]any{"id": "c1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city": "Oslo"}`}},
			map[string]any{"id": "c2", "type": "function", "function": map[string]any{"name": "now", "arguments": "{}"}},
		}},
		// An empty tool result still has its content.
		map[string]any{"role": "tool", "content": "", "tool_call_id": "c1"},
		map[string]any{"role": "tool", "content": "noon", "tool_call_id": "c2"},
		map[string]any{"role": "assistant", "refusal": "I can't."},
		map[string]any{"role": "assistant", "content": ""},
	}, b.send(t, nil, req)["messages"])
}

func TestRequestStreamOptions(t *testing.T) {
	t.Parallel()
	rec := loadRecording(t, "07_openai_stream_answer_after_tool_result.json")
	srv := newReplayServer(t, rec)
	for _, omit := range []bool{false, true} {
		m, err := New(Config{Model: "m", BaseURL: srv.URL, Stream: true, OmitStreamOptions: omit})
		require.NoError(t, err)
		_, err = m.Generate(context.Background(), userRequest())
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.Unmarshal(srv.lastBody(t), &body))
		require.Equal(t, true, body["stream"])
		if omit {
			require.NotContains(t, body, "stream_options")
		} else {
			require.Equal(t, map[string]any{"include_usage": true}, body["stream_options"])
		}
		require.Equal(t, "text/event-stream", srv.lastHeader(t).Get("Accept"))
	}
}

func TestRequestInvalid(t *testing.T) {
	t.Parallel()
	b := setupRequest(t)
	m, err := New(b.cfg)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		req  *ratchet.Request
	}{
		{"nil", nil},
		{"no messages", &ratchet.Request{}},
		{"unknown role", &ratchet.Request{Messages: []ratchet.Message{{Role: "developer", Content: "x"}}}},
		{"tool message without call ID", &ratchet.Request{Messages: []ratchet.Message{{Role: ratchet.RoleTool, Content: "x"}}}},
		{"required without tools", &ratchet.Request{Messages: userRequest().Messages, ToolChoice: ratchet.ToolChoice{Mode: ratchet.ToolChoiceRequired}}},
		{"named tool without name", withTools(&ratchet.Request{Messages: userRequest().Messages, ToolChoice: ratchet.ToolChoice{Mode: ratchet.ToolChoiceTool}}, weatherTool)},
		{"unknown tool choice", withTools(&ratchet.Request{Messages: userRequest().Messages, ToolChoice: ratchet.ToolChoice{Mode: "any"}}, weatherTool)},
		{"tool without name", withTools(userRequest(), ratchet.ToolSpec{})},
		{"schema that is not JSON", withTools(userRequest(), ratchet.ToolSpec{Name: "t", Parameters: json.RawMessage(`{"type":`)})},
		{"negative max tokens", &ratchet.Request{Messages: userRequest().Messages, MaxOutputTokens: -1}},
		{"response format without schema", &ratchet.Request{Messages: userRequest().Messages, ResponseFormat: &ratchet.ResponseFormat{Name: "x"}}},
	} {
		resp, err := m.Generate(context.Background(), tc.req)
		require.Nil(t, resp, tc.name)
		me := requireModelError(t, err, ratchet.ModelBadRequest, CodeInvalidRequest)
		require.False(t, me.Retryable())
	}
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	require.Empty(t, b.srv.bodies, "nothing is sent for an invalid request")
}

func TestRequestHeadersAndURL(t *testing.T) {
	t.Parallel()
	b := setupRequest(t)

	b.send(t, nil, userRequest())
	h := b.srv.lastHeader(t)
	require.Empty(t, h.Get("Authorization"), "no key, no credentials")
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, "application/json", h.Get("Accept"))

	extra := http.Header{"Http-Referer": {"https://example.com"}, "X-Title": {"ratchet"}}
	b.send(t, func(c *Config) { c.APIKey = "sk-1"; c.Organization = "org-1"; c.Headers = extra }, userRequest())
	h = b.srv.lastHeader(t)
	require.Equal(t, "Bearer sk-1", h.Get("Authorization"))
	require.Equal(t, "org-1", h.Get("OpenAI-Organization"))
	require.Equal(t, "https://example.com", h.Get("HTTP-Referer"))
	require.Equal(t, "ratchet", h.Get("X-Title"))

	// Headers override what the Model sets itself.
	b.send(t, func(c *Config) { c.APIKey = "sk-1"; c.Headers = http.Header{"Authorization": {"Token gw"}} }, userRequest())
	require.Equal(t, []string{"Token gw"}, b.srv.lastHeader(t).Values("Authorization"))

	// Azure: api-key header and api-version query, on the deployment URL.
	b.send(t, func(c *Config) { c.APIKey = "az-1"; c.Azure = true; c.BaseURL += "/openai/deployments/gpt-4o/" }, userRequest())
	h = b.srv.lastHeader(t)
	require.Equal(t, "az-1", h.Get("Api-Key"))
	require.Empty(t, h.Get("Authorization"))
	b.srv.mu.Lock()
	require.Equal(t, "api-version="+AzureAPIVersionDefault, b.srv.rawQuery[len(b.srv.rawQuery)-1])
	b.srv.mu.Unlock()
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{Model: "  "},
		{Model: "m", BaseURL: "api.openai.com/v1"},
		{Model: "m", BaseURL: "ftp://host/v1"},
		{Model: "m", BaseURL: "http://[::1"},
	} {
		m, err := New(cfg)
		require.Nil(t, m)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
	}

	for base, want := range map[string]string{
		"":                             "https://api.openai.com/v1/chat/completions",
		"http://localhost:8000/v1/":    "http://localhost:8000/v1/chat/completions",
		"http://h/openai/v1?key=1":     "http://h/openai/v1/chat/completions?key=1",
		"https://r.openai.azure.com/x": "https://r.openai.azure.com/x/chat/completions",
	} {
		m, err := New(Config{Model: "m", BaseURL: base})
		require.NoError(t, err)
		require.Equal(t, want, m.endpoint)
	}

	// New copies: changing the caller's Config afterwards changes nothing.
	temp := 0.2
	hdr := http.Header{"X-A": {"1"}}
	cfg := Config{Model: "m", Temperature: &temp, Headers: hdr}
	m, err := New(cfg)
	require.NoError(t, err)
	temp = 0.9
	hdr.Set("X-A", "2")
	require.Equal(t, 0.2, *m.cfg.Temperature)
	require.Equal(t, "1", m.header.Get("X-A"))
}

// TestConcurrentGenerate runs many calls on one Model at once, streamed
// and not; run it with -race.
func TestConcurrentGenerate(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"01_openai_single_tool_call.json", "08_openai_stream_parallel_tool_calls.json"} {
		rec := loadRecording(t, name)
		srv := newReplayServer(t, rec)
		m, err := New(Config{Model: "m", BaseURL: srv.URL, Stream: rec.streamed(), OnDelta: func(context.Context, string) {}})
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 16)
		resps := make([]*ratchet.Response, 16)
		for i := range errs {
			wg.Go(func() {
				req := userRequest()
				req.Messages[0].Content = fmt.Sprint("call ", i)
				resps[i], errs[i] = m.Generate(context.Background(), req)
			})
		}
		wg.Wait()
		for i := range errs {
			require.NoError(t, errs[i])
			require.Equal(t, replayCases[name].want, resps[i])
		}
	}
}
