package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// server speaks the OpenAI chat-completions format; answer gives the body
// (or an error status) for call n.
func server(t *testing.T, answer func(n int, w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	var calls atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/chat/completions", r.URL.Path)
		require.Equal(t, "Bearer test-key", r.Header.Get("Authorization"))
		answer(int(calls.Add(1)), w)
	}))
	t.Cleanup(s.Close)
	return s
}

func completion(w http.ResponseWriter, msg string, finish string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":%s,"finish_reason":%q}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, msg, finish)
}

func useServer(t *testing.T, s *httptest.Server) {
	t.Setenv("OPENAI_API_KEY", "test-key")
	t.Setenv("OPENAI_BASE_URL", s.URL)
	t.Setenv("OPENAI_MODEL", "m")
}

func TestQuickstartOverOpenAI(t *testing.T) {
	s := server(t, func(n int, w http.ResponseWriter) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit"}}`)
		case 2: // an unknown tool and bad arguments: repair turns
			completion(w, `{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"abacus","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"calculator","arguments":"{\"op\":\"pow\",\"a\":1,\"b\":2}"}}]}`, "tool_calls")
		case 3:
			completion(w, `{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"calculator","arguments":"{\"op\":\"mul\",\"a\":6,\"b\":7}"}}]}`, "tool_calls")
		default:
			completion(w, `{"role":"assistant","content":"42"}`, "stop")
		}
	})
	useServer(t, s)
	require.NoError(t, run(context.Background(), ""))
}

func TestQuickstartFailsOnAuth(t *testing.T) {
	s := server(t, func(n int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
	})
	useServer(t, s)
	err := run(context.Background(), "")
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "auth"), err.Error())
}

// TestQuickstartRetriesServerErrorsAndBrokenStreams: a 503 and a stream cut
// off mid-way are transient model errors: retried with backoff (the default
// policy), and the run completes.
func TestQuickstartRetriesServerErrorsAndBrokenStreams(t *testing.T) {
	s := server(t, func(n int, w http.ResponseWriter) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
		case 2: // the stream breaks after one chunk, without [DONE]
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"4\"}}]}\n\n")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"42\"},\"finish_reason\":\"stop\"}]}\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
		}
	})
	useServer(t, s)
	t.Setenv("OPENAI_STREAM", "1")
	require.NoError(t, run(context.Background(), ""))
}
