package openai

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// recording is one exchange from testdata/recorded (see its README.md).
type recording struct {
	Source      string          `json:"source"`
	Description string          `json:"description"`
	URL         string          `json:"url"`
	Request     json.RawMessage `json:"request"`
	Response    struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
		SSE     []string          `json:"sse"`
	} `json:"response"`
}

// streamed reports whether the recorded response is an event stream.
func (r *recording) streamed() bool { return r.Response.SSE != nil }

// loadRecording reads testdata/recorded/<name>.
func loadRecording(t testing.TB, name string) *recording {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "recorded", name))
	require.NoError(t, err)
	var rec recording
	require.NoError(t, json.Unmarshal(data, &rec))
	return &rec
}

// recordingNames lists the recorded exchanges.
func recordingNames(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "recorded", "*.json"))
	require.NoError(t, err)
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	slices.Sort(names)
	return names
}

// replayServer serves one recorded response to every request and keeps
// the request bodies it received.
type replayServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	rawQuery []string
}

// newReplayServer starts a server replaying rec's response: its status,
// its headers (less the ones that described the original wire bytes), and
// its body, or its events each followed by a blank line.
func newReplayServer(t testing.TB, rec *recording) *replayServer {
	t.Helper()
	s := &replayServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.headers = append(s.headers, r.Header.Clone())
		s.rawQuery = append(s.rawQuery, r.URL.RawQuery)
		s.mu.Unlock()
		for k, v := range rec.Response.Headers {
			switch strings.ToLower(k) {
			case "content-length", "transfer-encoding", "connection", "content-encoding":
				continue
			}
			w.Header().Set(k, v)
		}
		if rec.streamed() && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		if !rec.streamed() && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rec.Response.Status)
		if rec.streamed() {
			for _, ev := range rec.Response.SSE {
				_, _ = io.WriteString(w, ev+"\n\n")
			}
			return
		}
		_, _ = w.Write(rec.Response.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

// lastBody returns the body of the last request received.
func (s *replayServer) lastBody(t testing.TB) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.bodies, "the server received no request")
	return s.bodies[len(s.bodies)-1]
}

// lastHeader returns the headers of the last request received.
func (s *replayServer) lastHeader(t testing.TB) http.Header {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.headers, "the server received no request")
	return s.headers[len(s.headers)-1]
}

// wireReq is the part of a recorded request body that a ratchet.Request
// can express.
type wireReq struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		Refusal    string          `json:"refusal"`
		Name       string          `json:"name"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      bool            `json:"strict"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Temperature         *float64        `json:"temperature"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       json.RawMessage `json:"stream_options"`
	ResponseFormat      *struct {
		JSONSchema struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// textOf returns a message content as text: a string, or the text parts
// of a content array joined.
func textOf(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	require.NoError(t, json.Unmarshal(raw, &parts))
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// fromRecordedRequest builds the ratchet.Request and Config that should
// make a Model send what the recorded client sent.
func fromRecordedRequest(t testing.TB, raw json.RawMessage) (*ratchet.Request, Config) {
	t.Helper()
	var w wireReq
	require.NoError(t, json.Unmarshal(raw, &w))
	cfg := Config{Model: w.Model, Stream: w.Stream, OmitStreamOptions: w.Stream && len(w.StreamOptions) == 0}
	req := &ratchet.Request{Temperature: w.Temperature}
	for _, m := range w.Messages {
		msg := ratchet.Message{
			Role:       ratchet.Role(m.Role),
			Content:    textOf(t, m.Content),
			Refusal:    m.Refusal,
			Name:       m.Name,
			ToolCallID: m.ToolCallID,
		}
		for _, c := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, ratchet.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments})
		}
		req.Messages = append(req.Messages, msg)
	}
	for _, tool := range w.Tools {
		req.Tools = append(req.Tools, ratchet.ToolSpec{
			Name:        tool.Function.Name,
			Description: tool.Function.Description,
			Parameters:  tool.Function.Parameters,
		})
		cfg.StrictTools = cfg.StrictTools || tool.Function.Strict
	}
	if len(w.ToolChoice) > 0 {
		var mode string
		if json.Unmarshal(w.ToolChoice, &mode) == nil {
			if mode != "auto" {
				req.ToolChoice.Mode = ratchet.ToolChoiceMode(mode)
			}
		} else {
			var obj struct {
				Function struct{ Name string } `json:"function"`
			}
			require.NoError(t, json.Unmarshal(w.ToolChoice, &obj))
			req.ToolChoice = ratchet.ToolChoice{Mode: ratchet.ToolChoiceTool, Name: obj.Function.Name}
		}
	}
	switch {
	case w.MaxCompletionTokens > 0:
		req.MaxOutputTokens = w.MaxCompletionTokens
	case w.MaxTokens > 0:
		req.MaxOutputTokens = w.MaxTokens
		cfg.LegacyMaxTokens = true
	}
	if rf := w.ResponseFormat; rf != nil {
		req.ResponseFormat = &ratchet.ResponseFormat{Name: rf.JSONSchema.Name, Schema: rf.JSONSchema.Schema, Strict: rf.JSONSchema.Strict}
	}
	return req, cfg
}

// canonicalRequest decodes a request body and removes what differs only in
// spelling between equivalent requests: "stream": false, "n": 1,
// "tool_choice": "auto", "tools": [], an empty tool description, a null
// content, an assistant's "" content next to tool calls, and content given
// as an array of text parts (joined into a string, which is how ratchet
// sends it). Then it deletes the listed paths (dotted, "*" for every array
// element), which the recorded client sent and ratchet does not.
func canonicalRequest(t testing.TB, raw []byte, drop []string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	if m["stream"] == false {
		delete(m, "stream")
	}
	if m["n"] == float64(1) {
		delete(m, "n")
	}
	if m["tool_choice"] == "auto" {
		delete(m, "tool_choice")
	}
	if tools, ok := m["tools"].([]any); ok {
		if len(tools) == 0 {
			delete(m, "tools")
		}
		for _, tool := range tools {
			fn := tool.(map[string]any)["function"].(map[string]any)
			if fn["description"] == "" {
				delete(fn, "description")
			}
		}
	}
	for _, msg := range m["messages"].([]any) {
		msg := msg.(map[string]any)
		if parts, ok := msg["content"].([]any); ok {
			var b strings.Builder
			for _, p := range parts {
				if s, ok := p.(map[string]any)["text"].(string); ok {
					b.WriteString(s)
				}
			}
			msg["content"] = b.String()
		}
		if c, ok := msg["content"]; ok && c == nil {
			delete(msg, "content")
		}
		if msg["role"] == "assistant" && msg["content"] == "" && msg["tool_calls"] != nil {
			delete(msg, "content")
		}
	}
	for _, path := range drop {
		deletePath(m, strings.Split(path, "."))
	}
	return m
}

// deletePath deletes a dotted path from decoded JSON.
func deletePath(v any, path []string) {
	switch v := v.(type) {
	case map[string]any:
		if len(path) == 1 {
			delete(v, path[0])
			return
		}
		if next, ok := v[path[0]]; ok {
			deletePath(next, path[1:])
		}
	case []any:
		if path[0] == "*" {
			for _, e := range v {
				deletePath(e, path[1:])
			}
		}
	}
}
