package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// endlessCompletion writes a completion whose content goes on for size
// bytes (never closed: the JSON is cut off), in 64 KiB writes from one
// buffer, so that the server itself allocates next to nothing. With
// withLength it announces the size in Content-Length; without, the body
// is chunked.
func endlessCompletion(size int64, withLength bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if withLength {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		head := `{"choices":[{"index":0,"message":{"role":"assistant","content":"`
		_, _ = io.WriteString(w, head)
		chunk := []byte(strings.Repeat("a", 64<<10))
		for left := size - int64(len(head)); left > 0; left -= int64(len(chunk)) {
			if _, err := w.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
				return // the client stopped reading
			}
		}
	}
}

// requireTooLarge asserts that err is a response_too_large *ModelError over
// limit, not retried by the default policy, and returns its cause.
func requireTooLarge(t *testing.T, err error, limit string) *TooLargeError {
	t.Helper()
	me := requireModelError(t, err, ratchet.ModelResponseTooLarge, "")
	require.False(t, me.Retryable(), "a response too large is not retried")
	require.False(t, ratchet.DefaultRetryClassifier(err).Retry)
	te, ok := errors.AsType[*TooLargeError](err)
	require.True(t, ok, "cause is a *TooLargeError: %v", err)
	require.Equal(t, limit, te.Limit)
	require.Contains(t, err.Error(), limit)
	return te
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	for _, tc := range []struct {
		name       string
		withLength bool
	}{{"chunked", false}, {"Content-Length", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(endlessCompletion(10*limit, tc.withLength))
			t.Cleanup(srv.Close)
			m, err := New(Config{Model: "m", BaseURL: srv.URL, MaxResponseBytes: limit})
			require.NoError(t, err)
			resp, err := m.Generate(context.Background(), userRequest())
			require.Nil(t, resp)
			te := requireTooLarge(t, err, "MaxResponseBytes")
			require.EqualValues(t, limit, te.Max)
		})
	}
	t.Run("a body of exactly the limit is read", func(t *testing.T) {
		t.Parallel()
		body := `{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`
		for _, withLength := range []bool{false, true} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if withLength {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				_, _ = io.WriteString(w, body)
			}))
			t.Cleanup(srv.Close)
			m, err := New(Config{Model: "m", BaseURL: srv.URL, MaxResponseBytes: int64(len(body))})
			require.NoError(t, err)
			resp, err := m.Generate(context.Background(), userRequest())
			require.NoError(t, err)
			require.Equal(t, "ok", resp.Message.Content)
		}
	})
	t.Run("error body is cut, and classified by its status", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			chunk := []byte(strings.Repeat("x", 64<<10))
			for range 160 { // 10 MiB, past maxErrorBody
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		m, err := New(Config{Model: "m", BaseURL: srv.URL, MaxResponseBytes: limit})
		require.NoError(t, err)
		_, err = m.Generate(context.Background(), userRequest())
		me := requireModelError(t, err, ratchet.ModelTransient, "")
		require.Equal(t, http.StatusServiceUnavailable, me.StatusCode)
		re, ok := errors.AsType[*goopenai.RequestError](err)
		require.True(t, ok)
		require.Len(t, re.Body, limit, "the body is read up to the limit")
		require.LessOrEqual(t, len(me.Error()), 1024, "the message is an excerpt")
	})
}

func TestStreamTooLarge(t *testing.T) {
	t.Parallel()
	chunk := func(content string) string {
		return `data: {"model":"m","choices":[{"index":0,"delta":{"content":"` + content + `"}}]}`
	}
	done := []string{`data: {"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "data: [DONE]"}
	many := func(n int, ev string, tail ...string) string {
		evs := make([]string, 0, n+len(tail))
		for range n {
			evs = append(evs, ev)
		}
		return events(append(evs, tail...)...)
	}
	for _, tc := range []struct {
		name   string
		body   string
		adjust func(*Config)
		limit  string // "" when the stream is within every limit
	}{
		{
			name:   "assembled text over MaxResponseBytes",
			body:   many(200, chunk(strings.Repeat("b", 100)), done...),
			adjust: func(c *Config) { c.MaxResponseBytes = 10_000 },
			limit:  "MaxResponseBytes",
		},
		{
			name:   "tool-call arguments over MaxResponseBytes",
			body:   many(200, `data: {"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"`+strings.Repeat("1", 100)+`"}}]}}]}`, done...),
			adjust: func(c *Config) { c.MaxResponseBytes = 10_000 },
			limit:  "MaxResponseBytes",
		},
		{
			name:   "keep-alive comments over MaxStreamBytes",
			body:   many(2000, ": "+strings.Repeat("k", 100), done...),
			adjust: func(c *Config) { c.MaxStreamBytes = 100_000 },
			limit:  "MaxStreamBytes",
		},
		{
			name:   "one line over MaxStreamLineBytes",
			body:   events(chunk(strings.Repeat("c", 100_000))) + events(done...),
			adjust: func(c *Config) { c.MaxStreamLineBytes = 50_000 },
			limit:  "MaxStreamLineBytes",
		},
		{
			name:   "a short line over a small MaxStreamLineBytes",
			body:   events(chunk(strings.Repeat("c", 1000))) + events(done...),
			adjust: func(c *Config) { c.MaxStreamLineBytes = 500 },
			limit:  "MaxStreamLineBytes",
		},
		{
			name: "within every limit",
			body: many(50, chunk("d"), done...),
			adjust: func(c *Config) {
				c.MaxResponseBytes, c.MaxStreamBytes, c.MaxStreamLineBytes = 50, 10_000, 200
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var deltas int
			b := setupStream(t, sseHandler(tc.body), func(c *Config) {
				c.OmitStreamOptions = true
				c.OnDelta = func(context.Context, string) { deltas++ }
				tc.adjust(c)
			})
			resp, err := b.model.Generate(context.Background(), userRequest())
			if tc.limit == "" {
				require.NoError(t, err)
				require.Equal(t, strings.Repeat("d", 50), resp.Message.Content)
				return
			}
			require.Nil(t, resp, "no partial response")
			requireTooLarge(t, err, tc.limit)
		})
	}
}

func TestNegativeLimitsRejected(t *testing.T) {
	t.Parallel()
	for _, adjust := range []func(*Config){
		func(c *Config) { c.MaxResponseBytes = -1 },
		func(c *Config) { c.MaxStreamBytes = -1 },
		func(c *Config) { c.MaxStreamLineBytes = -1 },
	} {
		cfg := Config{Model: "m"}
		adjust(&cfg)
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
}

// TestLargeBodyCostsAboutTheLimit: a 50 MB body, read with the default
// limit, allocates about the limit, not several times the body. It is not
// parallel, so that no other test allocates while it measures.
func TestLargeBodyCostsAboutTheLimit(t *testing.T) {
	const size = 50 << 20
	for _, withLength := range []bool{false, true} {
		srv := httptest.NewServer(endlessCompletion(size, withLength))
		m, err := New(Config{Model: "m", BaseURL: srv.URL})
		require.NoError(t, err)

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err = m.Generate(context.Background(), userRequest())
		runtime.ReadMemStats(&after)
		srv.Close()

		requireTooLarge(t, err, "MaxResponseBytes")
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("Content-Length %v: %d bytes allocated for a %d-byte body", withLength, allocated, size)
		require.Less(t, allocated, uint64(3*MaxResponseBytesDefault), "allocated %d bytes", allocated)
	}
}

// BenchmarkGenerateHugeBody reports what a 50 MB chunked body costs with
// the default limit (run with -benchmem).
func BenchmarkGenerateHugeBody(b *testing.B) {
	srv := httptest.NewServer(endlessCompletion(50<<20, false))
	b.Cleanup(srv.Close)
	m, err := New(Config{Model: "m", BaseURL: srv.URL})
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Generate(ctx, userRequest()); err == nil {
			b.Fatal("want an error")
		}
	}
}
