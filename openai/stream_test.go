package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// streamBundle is a streaming Model and the server it talks to.
type streamBundle struct {
	model *Model
	srv   *httptest.Server
}

// setupStream starts a server running handler and a streaming Model
// against it; adjust may change the Config first.
func setupStream(t *testing.T, handler http.HandlerFunc, adjust func(*Config)) *streamBundle {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	cfg := Config{Model: "test-model", BaseURL: srv.URL, Stream: true}
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := New(cfg)
	require.NoError(t, err)
	return &streamBundle{model: m, srv: srv}
}

// sseHandler writes raw (already framed) as an event stream.
func sseHandler(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, raw)
	}
}

// events frames events as a server does: each followed by a blank line.
func events(evs ...string) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e)
		b.WriteString("\n\n")
	}
	return b.String()
}

// userRequest is a minimal request.
func userRequest() *ratchet.Request {
	return &ratchet.Request{Messages: []ratchet.Message{{Role: ratchet.RoleUser, Content: "hi"}}}
}

// requireModelError asserts that err is a *ratchet.ModelError of kind and
// code, and returns it.
func requireModelError(t *testing.T, err error, kind ratchet.ModelErrorKind, code string) *ratchet.ModelError {
	t.Helper()
	me, ok := errors.AsType[*ratchet.ModelError](err)
	require.True(t, ok, "want *ratchet.ModelError, got %T %v", err, err)
	require.Equal(t, kind, me.Kind, "kind of %v", me)
	require.Equal(t, code, me.Code, "code of %v", me)
	return me
}

type ctxKey struct{}

func TestStreamOnDeltaReceivesTextDeltas(t *testing.T) {
	t.Parallel()
	rec := loadRecording(t, "07_openai_stream_answer_after_tool_result.json")
	var (
		mu     sync.Mutex
		deltas []string
	)
	b := setupStream(t, sseHandler(events(rec.Response.SSE...)), func(c *Config) {
		c.OnDelta = func(ctx context.Context, text string) {
			require.Equal(t, "run-7", ctx.Value(ctxKey{}), "OnDelta gets Generate's context")
			mu.Lock()
			deltas = append(deltas, text)
			mu.Unlock()
		}
	})
	ctx := context.WithValue(context.Background(), ctxKey{}, "run-7")
	resp, err := b.model.Generate(ctx, userRequest())
	require.NoError(t, err)
	require.Equal(t, []string{"The", " capital", " of", " the", " UK", " is", " London", "."}, deltas)
	require.Equal(t, strings.Join(deltas, ""), resp.Message.Content)
}

func TestStreamOnDeltaNotCalledForRefusalOrToolCalls(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"10_openai_stream_refusal.json", "08_openai_stream_parallel_tool_calls.json"} {
		rec := loadRecording(t, name)
		called := false
		b := setupStream(t, sseHandler(events(rec.Response.SSE...)), func(c *Config) {
			c.OnDelta = func(context.Context, string) { called = true }
		})
		_, err := b.model.Generate(context.Background(), userRequest())
		require.NoError(t, err)
		require.False(t, called, name)
	}
}

// TestStreamBrokenMidway cuts a recorded stream after its third event.
func TestStreamBrokenMidway(t *testing.T) {
	t.Parallel()
	rec := loadRecording(t, "06_openai_stream_tool_call_split_args.json")
	partial := events(rec.Response.SSE[:3]...)

	t.Run("connection closed", func(t *testing.T) {
		t.Parallel()
		b := setupStream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, partial)
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close() // mid chunked body: the client sees unexpected EOF
			}
		}, nil)
		resp, err := b.model.Generate(context.Background(), userRequest())
		require.Nil(t, resp, "no half-built response")
		me := requireModelError(t, err, ratchet.ModelTransient, CodeBrokenStream)
		require.True(t, me.Retryable())
	})
	t.Run("body ended without DONE", func(t *testing.T) {
		t.Parallel()
		b := setupStream(t, sseHandler(partial), nil)
		resp, err := b.model.Generate(context.Background(), userRequest())
		require.Nil(t, resp)
		requireModelError(t, err, ratchet.ModelTransient, CodeBrokenStream)
	})
	t.Run("finish reason but usage missing", func(t *testing.T) {
		t.Parallel()
		// All but the usage chunk and [DONE]: usage was asked for, so the
		// stream is incomplete.
		b := setupStream(t, sseHandler(events(rec.Response.SSE[:7]...)), nil)
		resp, err := b.model.Generate(context.Background(), userRequest())
		require.Nil(t, resp)
		requireModelError(t, err, ratchet.ModelTransient, CodeBrokenStream)
	})
	t.Run("only DONE missing", func(t *testing.T) {
		t.Parallel()
		// Finish reason and usage arrived: nothing is missing.
		b := setupStream(t, sseHandler(events(rec.Response.SSE[:8]...)), nil)
		resp, err := b.model.Generate(context.Background(), userRequest())
		require.NoError(t, err)
		require.Equal(t, replayCases["06_openai_stream_tool_call_split_args.json"].want, resp)
	})
	t.Run("usage not asked for", func(t *testing.T) {
		t.Parallel()
		b := setupStream(t, sseHandler(events(rec.Response.SSE[:7]...)), func(c *Config) { c.OmitStreamOptions = true })
		resp, err := b.model.Generate(context.Background(), userRequest())
		require.NoError(t, err)
		require.Equal(t, ratchet.FinishToolCalls, resp.FinishReason)
		require.Equal(t, ratchet.Usage{}, resp.Usage)
	})
}

func TestStreamContextEnds(t *testing.T) {
	t.Parallel()
	first := `data: {"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}`
	hang := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, events(first))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := setupStream(t, hang, func(c *Config) {
			c.OnDelta = func(context.Context, string) { cancel() }
		})
		resp, err := b.model.Generate(ctx, userRequest())
		require.Nil(t, resp)
		require.ErrorIs(t, err, context.Canceled)
		requireModelError(t, err, ratchet.ModelTransient, CodeBrokenStream)
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		b := setupStream(t, hang, nil)
		resp, err := b.model.Generate(ctx, userRequest())
		require.Nil(t, resp)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		requireModelError(t, err, ratchet.ModelTimeout, CodeBrokenStream)
	})
}

// TestStreamDeviations feeds streams with the deviations servers are known
// for, each reduced to what matters.
func TestStreamDeviations(t *testing.T) {
	t.Parallel()
	usage := `data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}`
	for _, tc := range []struct {
		name    string
		raw     string
		want    *ratchet.Response
		wantErr ratchet.ModelErrorKind
		code    string
	}{
		{
			name: "comments, CRLF, leading spaces, id and retry fields, an unnamed event",
			raw: ": keep-alive\r\n\r\n" +
				"retry: 1000\r\nid: 1\r\n  data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n" +
				"event: message\ndata:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n" +
				events(usage, "data: [DONE]"),
			want: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: "ab"}, FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7}, Model: "m"},
		},
		{
			name: "tool calls without index (Gemini): one per chunk, two in one chunk, continuation without name",
			raw: events(
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"","type":"function","function":{"name":"a","arguments":"{\"x\":"}}]}}]}`,
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}`,
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"","function":{"name":"b","arguments":"{}"}},{"id":"","function":{"name":"c","arguments":"{}"}}]}}]}`,
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"k","function":{"name":"d"}}]}}]}`,
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"k","function":{"arguments":"[]"}}]}}]}`,
				usage, "data: [DONE]"),
			want: &ratchet.Response{
				Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{
					call("call_0", "a", `{"x":1}`), call("call_1", "b", `{}`), call("call_2", "c", `{}`), call("k", "d", `[]`),
				}},
				FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7},
			},
		},
		{
			name: "repeated and empty IDs across indexes are made unique",
			raw: events(
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"a","arguments":"{}"}}]}}]}`,
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_1","function":{"name":"b","arguments":"{}"}}]}}]}`,
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"name":"c","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`,
				usage, "data: [DONE]"),
			want: &ratchet.Response{
				Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{
					call("call_1", "a", `{}`), call("call_1_1", "b", `{}`), call("call_2", "c", `{}`),
				}},
				FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7},
			},
		},
		{
			name: "legacy function_call delta",
			raw: events(
				`data: {"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":"{\"a\""}}}]}`,
				`data: {"choices":[{"index":0,"delta":{"function_call":{"arguments":":1}"}},"finish_reason":"function_call"}]}`,
				usage, "data: [DONE]"),
			want: &ratchet.Response{
				Message:      ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{call("call_0", "f", `{"a":1}`)}},
				FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7},
			},
		},
		{
			name: "choices other than 0 are ignored",
			raw: events(
				`data: {"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"},"finish_reason":"stop"}]}`,
				usage, "data: [DONE]"),
			want: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: "yes"}, FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7}},
		},
		{
			name: "a line longer than the read buffer",
			raw: events(`data: {"choices":[{"index":0,"delta":{"content":"`+strings.Repeat("x", 100_000)+`"},"finish_reason":"stop"}]}`,
				usage, "data: [DONE]"),
			want: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: strings.Repeat("x", 100_000)}, FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7}},
		},
		{
			name:    "error event with a bare error object and no status",
			raw:     events(`data: {"choices":[{"index":0,"delta":{"content":"a"}}]}`, "event: error\ndata: {\"message\":\"upstream went away\"}"),
			wantErr: ratchet.ModelTransient,
		},
		{
			name:    "error chunk (vLLM) with a context-length message",
			raw:     events(`data: {"error":{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","code":400}}`),
			wantErr: ratchet.ModelContextLength, code: "400",
		},
		{
			name: "empty error members are no error",
			raw: events(
				`data: {"error":null,"choices":[{"index":0,"delta":{"content":"a"}}]}`,
				`data: {"error":{},"choices":[{"index":0,"delta":{"content":"b"}}]}`,
				`data: {"error":false,"choices":[{"index":0,"delta":{"content":"c"}}]}`,
				`data: {"error":"","choices":[{"index":0,"delta":{"content":"d"},"finish_reason":"stop"}]}`,
				usage, "data: [DONE]"),
			want: &ratchet.Response{Message: ratchet.Message{Role: ratchet.RoleAssistant, Content: "abcd"}, FinishReason: ratchet.FinishStop, Usage: ratchet.Usage{InputTokens: 5, OutputTokens: 7}},
		},
		{
			name:    "error event whose data is not an error",
			raw:     events(`data: {"choices":[{"index":0,"delta":{"content":"a"}}]}`, "event: error\ndata: overloaded"),
			wantErr: ratchet.ModelTransient,
		},
		{
			name:    "data that is not JSON",
			raw:     events(`data: {"choices":[{"index":0,"delta":{"content":"a"}}]}`, "data: <html>"),
			wantErr: ratchet.ModelTransient, code: CodeInvalidResponse,
		},
		{
			name:    "finish reason error",
			raw:     events(`data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"error"}]}`, usage, "data: [DONE]"),
			wantErr: ratchet.ModelTransient, code: CodeGenerationFailed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupStream(t, sseHandler(tc.raw), nil)
			resp, err := b.model.Generate(context.Background(), userRequest())
			if tc.wantErr != "" {
				require.Nil(t, resp)
				requireModelError(t, err, tc.wantErr, tc.code)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, resp)
		})
	}
}

// TestStreamAnsweredWithJSON: a server that ignores "stream": true and
// answers with a plain completion is read as one.
func TestStreamAnsweredWithJSON(t *testing.T) {
	t.Parallel()
	rec := loadRecording(t, "01_openai_single_tool_call.json")
	b := setupStream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(rec.Response.Body)
	}, nil)
	resp, err := b.model.Generate(context.Background(), userRequest())
	require.NoError(t, err)
	require.Equal(t, replayCases["01_openai_single_tool_call.json"].want, resp)
}

// TestStreamErrorClosesConnection: a stream that Generate abandons (here
// at an error event, with the server still holding the connection open)
// is closed when Generate returns, not left to the server.
func TestStreamErrorClosesConnection(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	b := setupStream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, events("event: error\ndata: {\"error\":{\"message\":\"boom\",\"code\":500}}"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-time.After(5 * time.Second):
		}
	}, nil)
	_, err := b.model.Generate(context.Background(), userRequest())
	requireModelError(t, err, ratchet.ModelTransient, "500")
	select {
	case <-gone:
	case <-time.After(3 * time.Second):
		t.Fatal("the client kept the connection after Generate returned")
	}
}
