package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// generateFrom runs one Generate against a server that answers with body
// (an event stream when stream is set).
func generateFrom(t *testing.T, stream bool, body []byte) (*ratchet.Response, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	m, err := New(Config{Model: "m", BaseURL: srv.URL, Stream: stream})
	require.NoError(t, err)
	return m.Generate(context.Background(), userRequest())
}

// pieces splits s into pieces of about n bytes, on rune boundaries, as a
// server splits text into deltas.
func pieces(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		i := min(n, len(s))
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// streamOf turns a non-streamed completion body into the event stream an
// OpenAI server would send for it: a role chunk, content and refusal in
// small deltas, each tool call opened with its index, ID and name and its
// arguments in fragments (a call without arguments gets none, as
// recording 35 does), the finish reason, a usage chunk and [DONE].
func streamOf(t *testing.T, body []byte) []byte {
	t.Helper()
	var resp struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content   *string `json:"content"`
				Refusal   *string `json:"refusal"`
				ToolCalls []struct {
					ID       string `json:"id"`
					Function struct {
						Name      string  `json:"name"`
						Arguments *string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason json.RawMessage `json:"finish_reason"`
		} `json:"choices"`
		Usage json.RawMessage `json:"usage"`
	}
	require.NoError(t, json.Unmarshal(body, &resp))
	require.Len(t, resp.Choices, 1)
	choice := resp.Choices[0]

	var evs []string
	chunk := func(delta map[string]any, finish json.RawMessage) {
		c := map[string]any{
			"object":  "chat.completion.chunk",
			"model":   resp.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		}
		b, err := json.Marshal(c)
		require.NoError(t, err)
		evs = append(evs, "data: "+string(b))
	}
	null := json.RawMessage("null")
	chunk(map[string]any{"role": "assistant", "content": ""}, null)
	if c := choice.Message.Content; c != nil {
		for _, p := range pieces(*c, 5) {
			chunk(map[string]any{"content": p}, null)
		}
	}
	if r := choice.Message.Refusal; r != nil {
		for _, p := range pieces(*r, 5) {
			chunk(map[string]any{"refusal": p}, null)
		}
	}
	for i, tc := range choice.Message.ToolCalls {
		open := map[string]any{"index": i, "id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Function.Name}}
		chunk(map[string]any{"tool_calls": []any{open}}, null)
		if a := tc.Function.Arguments; a != nil {
			for _, p := range pieces(*a, 3) {
				frag := map[string]any{"index": i, "function": map[string]any{"arguments": p}}
				chunk(map[string]any{"tool_calls": []any{frag}}, null)
			}
		}
	}
	finish := choice.FinishReason
	if len(finish) == 0 {
		finish = null
	}
	chunk(map[string]any{}, finish)
	var usage bytes.Buffer
	require.NoError(t, json.Compact(&usage, resp.Usage))
	evs = append(evs, `data: {"object":"chat.completion.chunk","model":"`+resp.Model+`","choices":[],"usage":`+usage.String()+`}`, "data: [DONE]")
	return []byte(events(evs...))
}

// completionOf assembles a recorded event stream into the non-streamed
// body a server would have sent, by the simplest reading of the protocol:
// text concatenated, tool calls keyed by index with the first ID and name
// seen and the arguments concatenated, the last finish reason and usage.
// It is the reference the Model's own assembly is checked against.
func completionOf(t *testing.T, sse []string) []byte {
	t.Helper()
	type call struct {
		ID   string
		Name string
		Args *string
	}
	var (
		model, content, refusal string
		finish, usage           json.RawMessage
		calls                   []*call
	)
	for _, ev := range sse {
		data, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: ")
		require.True(t, ok, "event %q", ev)
		if data == "[DONE]" {
			break
		}
		var c struct {
			Model   string          `json:"model"`
			Usage   json.RawMessage `json:"usage"`
			Choices []struct {
				Delta struct {
					Content   string `json:"content"`
					Refusal   string `json:"refusal"`
					ToolCalls []struct {
						Index    int    `json:"index"`
						ID       string `json:"id"`
						Function struct {
							Name      string  `json:"name"`
							Arguments *string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason json.RawMessage `json:"finish_reason"`
			} `json:"choices"`
		}
		require.NoError(t, json.Unmarshal([]byte(data), &c))
		if model == "" {
			model = c.Model
		}
		if len(c.Usage) > 0 && string(c.Usage) != "null" {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			content += ch.Delta.Content
			refusal += ch.Delta.Refusal
			for _, tc := range ch.Delta.ToolCalls {
				for len(calls) <= tc.Index {
					calls = append(calls, &call{})
				}
				cl := calls[tc.Index]
				if cl.ID == "" {
					cl.ID = tc.ID
				}
				if cl.Name == "" {
					cl.Name = tc.Function.Name
				}
				if a := tc.Function.Arguments; a != nil {
					joined := *a
					if cl.Args != nil {
						joined = *cl.Args + joined
					}
					cl.Args = &joined
				}
			}
			if len(ch.FinishReason) > 0 && string(ch.FinishReason) != "null" {
				finish = ch.FinishReason
			}
		}
	}
	msg := map[string]any{"role": "assistant", "content": content}
	if refusal != "" {
		msg["refusal"] = refusal
		msg["content"] = nil
	}
	if len(calls) > 0 {
		var tcs []any
		for _, c := range calls {
			fn := map[string]any{"name": c.Name}
			if c.Args != nil {
				fn["arguments"] = *c.Args
			}
			tcs = append(tcs, map[string]any{"id": c.ID, "type": "function", "function": fn})
		}
		msg["tool_calls"] = tcs
	}
	if finish == nil {
		finish = json.RawMessage("null")
	}
	body, err := json.Marshal(map[string]any{
		"object":  "chat.completion",
		"model":   model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   usage,
	})
	require.NoError(t, err)
	return body
}

// TestStreamEquivalence checks that a streamed response maps to exactly
// the Response of the same completion sent whole, both ways: every
// recorded successful completion re-sent as a stream, and every recorded
// successful stream re-sent assembled.
func TestStreamEquivalence(t *testing.T) {
	t.Parallel()
	for _, name := range recordingNames(t) {
		rec := loadRecording(t, name)
		if rec.Response.Status != http.StatusOK || replayCases[name].wantErr != nil {
			continue // error responses have no stream form
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var whole, streamed []byte
			if rec.streamed() {
				streamed = []byte(events(rec.Response.SSE...))
				whole = completionOf(t, rec.Response.SSE)
			} else {
				whole = rec.Response.Body
				streamed = streamOf(t, rec.Response.Body)
			}
			fromWhole, err := generateFrom(t, false, whole)
			require.NoError(t, err)
			fromStream, err := generateFrom(t, true, streamed)
			require.NoError(t, err)
			require.Equal(t, fromWhole, fromStream)
			require.Equal(t, replayCases[name].want, fromStream)
		})
	}
}
