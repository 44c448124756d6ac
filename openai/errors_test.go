package openai

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// now is the clock reading used by the classification tables.
var testNow = time.Date(2025, 8, 8, 15, 40, 0, 0, time.UTC)

func TestHTTPErrorClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   ratchet.ModelError // Err is checked apart
	}{
		{
			name: "OpenAI context length", status: 400,
			body: `{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContextLength, Code: "context_length_exceeded", Message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."},
		},
		{
			name: "vLLM context length, numeric code", status: 400,
			body: `{"error":{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContextLength, Code: "400", Message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens."},
		},
		{
			name: "older vLLM: error object at top level", status: 400,
			body: `{"object":"error","message":"This model's maximum context length is 2048 tokens.","type":"BadRequestError","param":null,"code":400}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContextLength, Code: "400", Message: "This model's maximum context length is 2048 tokens."},
		},
		{
			name: "llama.cpp context size", status: 400,
			body: `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContextLength, Code: "400", Message: "the request exceeds the available context size, try increasing it"},
		},
		{
			name: "Anthropic via OpenRouter, prompt too long", status: 400,
			body: `{"error":{"message":"prompt is too long: 250000 tokens > 200000 maximum","code":400}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContextLength, Code: "400", Message: "prompt is too long: 250000 tokens > 200000 maximum"},
		},
		{
			name: "Gemini: array body, token count", status: 400,
			body: `[{"error":{"code":400,"message":"The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}]`,
			want: ratchet.ModelError{Kind: ratchet.ModelContextLength, Code: "400", Message: "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)."},
		},
		{
			name: "Gemini: array body, bad request", status: 400,
			body: `[{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}]`,
			want: ratchet.ModelError{Kind: ratchet.ModelBadRequest, Code: "400", Message: "Invalid JSON payload received."},
		},
		{
			name: "Azure content filter", status: 400,
			body: `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContentFilter, Code: "content_filter", Message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy."},
		},
		{
			name: "content policy violation", status: 400,
			body: `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","code":"content_policy_violation"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelContentFilter, Code: "content_policy_violation", Message: "Your request was rejected as a result of our safety system."},
		},
		{
			name: "Groq json_validate_failed", status: 400,
			body: `{"error":{"message":"Failed to validate JSON.","type":"invalid_request_error","code":"json_validate_failed","failed_generation":"{\"a\": 1,"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelInvalidOutput, Code: "json_validate_failed", Message: "Failed to validate JSON.", Output: `{"a": 1,`},
		},
		{
			name: "401 invalid key", status: 401,
			body: `{"error":{"message":"Incorrect API key provided: sk-abc.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelAuth, Code: "invalid_api_key", Message: "Incorrect API key provided: sk-abc."},
		},
		{
			name: "403 region", status: 403,
			body: `{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelAuth, Code: "unsupported_country_region_territory", Message: "Country, region, or territory not supported"},
		},
		{
			name: "402 OpenRouter out of credits", status: 402,
			body: `{"error":{"message":"Insufficient credits.","code":402}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelAuth, Code: "402", Message: "Insufficient credits."},
		},
		{
			name: "429 insufficient quota is not worth waiting for", status: 429,
			body: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelAuth, Code: "insufficient_quota", Message: "You exceeded your current quota."},
		},
		{
			name: "429 with Retry-After seconds", status: 429,
			header: http.Header{"Retry-After": {"20"}, "X-Ratelimit-Reset-Requests": {"6m0s"}},
			body:   `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "rate_limit_exceeded", Message: "Rate limit reached for requests", RetryAfter: 20 * time.Second},
		},
		{
			name: "429 with retry-after-ms before Retry-After", status: 429,
			header: http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}},
			body:   `{"error":{"message":"slow down","code":"rate_limit_exceeded"}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "rate_limit_exceeded", Message: "slow down", RetryAfter: 1500 * time.Millisecond},
		},
		{
			name: "429 with Retry-After as a date, from the Date header", status: 429,
			header: http.Header{"Retry-After": {"Fri, 08 Aug 2025 15:41:30 GMT"}, "Date": {"Fri, 08 Aug 2025 15:41:00 GMT"}},
			body:   `{"error":{"message":"slow down"}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Message: "slow down", RetryAfter: 30 * time.Second},
		},
		{
			name: "429 with OpenAI reset headers: the longer wins", status: 429,
			header: http.Header{"X-Ratelimit-Reset-Requests": {"20ms"}, "X-Ratelimit-Reset-Tokens": {"6m0s"}},
			body:   `{"error":{"message":"Rate limit reached for tokens","type":"tokens","code":"rate_limit_exceeded"}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "rate_limit_exceeded", Message: "Rate limit reached for tokens", RetryAfter: 6 * time.Minute},
		},
		{
			name: "429 with Groq reset headers", status: 429,
			header: http.Header{"X-Ratelimit-Reset-Requests": {"2m59.56s"}, "X-Ratelimit-Reset-Tokens": {"7.66s"}},
			body:   `{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "rate_limit_exceeded", Message: "Rate limit reached", RetryAfter: 2*time.Minute + 59560*time.Millisecond},
		},
		{
			name: "429 with an epoch reset and no Date header: from now", status: 429,
			header: http.Header{"X-Ratelimit-Reset": {"1754667610000"}}, // 15:40:10
			body:   `{"error":{"message":"Rate limit exceeded","code":429}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "429", Message: "Rate limit exceeded", RetryAfter: 10 * time.Second},
		},
		{
			name: "429 with a reset in the past", status: 429,
			header: http.Header{"X-Ratelimit-Reset": {"1754667500000"}},
			body:   `{"error":{"message":"Rate limit exceeded","code":429}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "429", Message: "Rate limit exceeded"},
		},
		{
			name: "Gemini 429", status: 429,
			body: `[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]`,
			want: ratchet.ModelError{Kind: ratchet.ModelRateLimited, Code: "429", Message: "Resource has been exhausted (e.g. check quota)."},
		},
		{
			name: "500 server error", status: 500,
			body: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelTransient, Code: "server_error", Message: "The server had an error while processing your request. Sorry about that!"},
		},
		{
			name: "503 with Retry-After ignores the rate-limit headers", status: 503,
			header: http.Header{"Retry-After": {"5"}, "X-Ratelimit-Reset-Tokens": {"1m"}},
			body:   `{"error":{"message":"overloaded","type":"overloaded_error"}}`,
			want:   ratchet.ModelError{Kind: ratchet.ModelTransient, Code: "overloaded_error", Message: "overloaded", RetryAfter: 5 * time.Second},
		},
		{
			name: "502 HTML from a proxy", status: 502,
			body: "<html><body>Bad Gateway</body></html>",
			want: ratchet.ModelError{Kind: ratchet.ModelTransient, Message: "<html><body>Bad Gateway</body></html>"},
		},
		{
			name: "500 with an empty body", status: 500,
			want: ratchet.ModelError{Kind: ratchet.ModelTransient},
		},
		{
			name: "408", status: 408,
			body: `{"error":{"message":"Request timed out."}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelTimeout, Message: "Request timed out."},
		},
		{
			name: "409 is worth a retry", status: 409,
			body: `{"error":{"message":"conflict"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelTransient, Message: "conflict"},
		},
		{
			name: "422 without a message", status: 422,
			body: `{"error":{"type":"validation","code":"bad_field"}}`,
			want: ratchet.ModelError{Kind: ratchet.ModelBadRequest, Code: "bad_field"},
		},
		{
			name: "TGI: error as a string", status: 422,
			body: `{"error":"Input validation error: inputs must have less than 4096 tokens","error_type":"validation"}`,
			want: ratchet.ModelError{Kind: ratchet.ModelBadRequest, Message: "Input validation error: inputs must have less than 4096 tokens"},
		},
		{
			name: "404 plain text", status: 404,
			body: "404 page not found",
			want: ratchet.ModelError{Kind: ratchet.ModelBadRequest, Message: "404 page not found"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := httpError(tc.status, tc.header, []byte(tc.body), testNow)
			require.Equal(t, tc.status, got.StatusCode)
			if apiErr, ok := errors.AsType[*goopenai.APIError](got); ok {
				require.Equal(t, tc.status, apiErr.HTTPStatusCode)
			} else {
				reqErr, ok := errors.AsType[*goopenai.RequestError](got)
				require.True(t, ok, "the cause is go-openai's APIError or RequestError")
				require.Equal(t, tc.status, reqErr.HTTPStatusCode)
				require.Equal(t, []byte(tc.body), reqErr.Body)
			}
			got.Err = nil
			tc.want.StatusCode = tc.status
			require.Equal(t, tc.want, *got)
		})
	}
}

func TestParseReset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1s", time.Second},
		{"6m0s", 6 * time.Minute},
		{"20ms", 20 * time.Millisecond},
		{"1h2m3s", time.Hour + 2*time.Minute + 3*time.Second},
		{"2.5", 2500 * time.Millisecond},
		{"1754667660000", time.Minute}, // epoch ms
		{"1754667660", time.Minute},    // epoch s
		{"-3s", 0},
		{"soon", 0},
	} {
		require.Equal(t, tc.want, parseReset(tc.in, testNow), tc.in)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		m, err := New(Config{Model: "m", BaseURL: url})
		require.NoError(t, err)
		resp, err := m.Generate(context.Background(), userRequest())
		require.Nil(t, resp)
		me := requireModelError(t, err, ratchet.ModelTransient, "")
		_, isOp := errors.AsType[*net.OpError](me)
		require.True(t, isOp, "the network error is kept: %v", me.Err)
	})

	// hang reads the request (so that the server notices when the client
	// goes) and then waits for it to go.
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})

	t.Run("context deadline", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(hang)
		t.Cleanup(srv.Close)
		m, err := New(Config{Model: "m", BaseURL: srv.URL})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = m.Generate(ctx, userRequest())
		requireModelError(t, err, ratchet.ModelTimeout, "")
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("context cancelled, with a cause", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(hang)
		t.Cleanup(srv.Close)
		m, err := New(Config{Model: "m", BaseURL: srv.URL})
		require.NoError(t, err)
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(20*time.Millisecond, func() { cancel(errors.New("operator stopped the run")) })
		_, err = m.Generate(ctx, userRequest())
		me := requireModelError(t, err, ratchet.ModelTransient, "")
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, "operator stopped the run", me.Message)
	})
	t.Run("http.Client timeout", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(hang)
		t.Cleanup(srv.Close)
		m, err := New(Config{Model: "m", BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
		require.NoError(t, err)
		_, err = m.Generate(context.Background(), userRequest())
		requireModelError(t, err, ratchet.ModelTimeout, "")
	})
}

// TestInBandErrorInCompletion: OpenRouter can answer 200 with an error
// object instead of a completion.
func TestInBandErrorInCompletion(t *testing.T) {
	t.Parallel()
	resp, err := generateFrom(t, false, []byte(`{"error":{"message":"Provider returned error","code":502,"metadata":{"provider_name":"X"}},"user_id":"u"}`))
	require.Nil(t, resp)
	me := requireModelError(t, err, ratchet.ModelTransient, "502")
	require.Equal(t, 502, me.StatusCode)
	require.Equal(t, "Provider returned error", me.Message)
}

func TestUnreadableCompletion(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`not json`, `{"id":"x","choices":[]}`, `{"choices":[{"index":0,"message":{"tool_calls":{"bad":1}}}]}`} {
		resp, err := generateFrom(t, false, []byte(body))
		require.Nil(t, resp, body)
		requireModelError(t, err, ratchet.ModelTransient, CodeInvalidResponse)
	}
}
