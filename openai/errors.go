package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ratchet-run/ratchet"
)

// The codes a Model puts in ratchet.ModelError.Code for failures it
// detects itself; every other Code is the provider's.
const (
	// CodeInvalidRequest: the Request could not be sent as it stands (no
	// messages, an unknown role, a tool choice without tools, a schema that
	// is not JSON). Kind bad_request; nothing was sent.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidResponse: a successful HTTP response whose body is not a
	// chat completion (not JSON, or no choices), or a stream chunk that is
	// not JSON. Kind transient.
	CodeInvalidResponse = "invalid_response"
	// CodeBrokenStream: the stream ended, or could not be read, before it
	// was complete. Kind transient (timeout when a deadline ended it).
	CodeBrokenStream = "broken_stream"
	// CodeGenerationFailed: the server ended the generation with
	// finish_reason "error". Kind transient.
	CodeGenerationFailed = "generation_failed"
)

// errorExtras holds the fields of a provider error object that go-openai's
// APIError does not keep.
type errorExtras struct {
	// FailedGeneration is Groq's raw model output that failed to parse.
	FailedGeneration string `json:"failed_generation"`
	// StatusCode is the status Groq reports inside a stream error event.
	StatusCode int `json:"status_code"`
	// Status is Azure's numeric status or Gemini's status name.
	Status     json.RawMessage `json:"status"`
	InnerError *struct {
		Code string `json:"code"`
	} `json:"innererror"`
}

// parseErrorObject decodes the value of an "error" member: an object
// (OpenAI and nearly everyone), or a bare string (Hugging Face TGI).
func parseErrorObject(raw []byte) (*goopenai.APIError, errorExtras, bool) {
	var x errorExtras
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, x, false
	}
	if raw[0] == '"' {
		var msg string
		if json.Unmarshal(raw, &msg) != nil {
			return nil, x, false
		}
		return &goopenai.APIError{Message: msg}, x, true
	}
	if raw[0] != '{' {
		return nil, x, false
	}
	e := &goopenai.APIError{}
	if err := json.Unmarshal(raw, e); err != nil {
		// go-openai insists on a string (or string array) message; take
		// what there is rather than lose the code.
		var loose struct {
			Message any    `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		if json.Unmarshal(raw, &loose) != nil {
			return nil, x, false
		}
		e = &goopenai.APIError{Type: loose.Type, Code: loose.Code}
		if loose.Message != nil {
			e.Message = fmt.Sprint(loose.Message)
		}
		if f, ok := loose.Code.(float64); ok && f == math.Trunc(f) {
			e.Code = int(f)
		}
	}
	_ = json.Unmarshal(raw, &x) // best effort: the extras are optional
	return e, x, true
}

// parseErrorBody decodes an error response body. It accepts
// {"error": {...}} (OpenAI and most servers), [{"error": {...}}] (Gemini's
// compatible endpoint), {"error": "text"} (TGI) and a bare error object
// with a top-level message ({"object": "error", "message": ...}, older
// vLLM).
func parseErrorBody(body []byte) (*goopenai.APIError, errorExtras, bool) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return nil, errorExtras{}, false
		}
		body = list[0]
	}
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil, errorExtras{}, false
	}
	if e, x, ok := parseErrorObject(env.Error); ok {
		return e, x, true
	}
	if len(env.Message) > 0 {
		return parseErrorObject(body)
	}
	return nil, errorExtras{}, false
}

// httpError classifies a response with an error status. now is used only
// when a rate-limit header names an absolute time and the response has no
// Date header.
func httpError(status int, header http.Header, body []byte, now time.Time) *ratchet.ModelError {
	e, x, ok := parseErrorBody(body)
	var me *ratchet.ModelError
	if ok {
		e.HTTPStatusCode = status
		e.HTTPStatus = strconv.Itoa(status) + " " + http.StatusText(status)
		me = classify(status, e, x)
		me.Err = e
	} else {
		me = classify(status, &goopenai.APIError{}, errorExtras{})
		me.Message = strings.TrimSpace(string(truncate(body, 512)))
		me.Err = &goopenai.RequestError{
			HTTPStatus:     strconv.Itoa(status) + " " + http.StatusText(status),
			HTTPStatusCode: status,
			Err:            errors.New("error body is not a JSON error object"),
			Body:           body,
		}
	}
	me.StatusCode = status
	me.RetryAfter = retryAfter(status, header, now)
	return me
}

// inBandError classifies an error object that arrived inside a successful
// response: an "event: error" or an error member in a stream chunk, or an
// error member in a 200 body (OpenRouter). raw is the error object, or with
// envelope an error body as parseErrorBody reads it. It returns nil when
// raw holds no error: absent, null, false, an object without message, code
// or type, or anything else it cannot read as an error (a server may send
// an empty error member with every chunk).
//
// The error's StatusCode is the status the object reports (status_code, a
// numeric code, or Azure's status), or 0 when it reports none; such an
// error is then transient.
func inBandError(raw []byte, envelope bool) *ratchet.ModelError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var (
		e  *goopenai.APIError
		x  errorExtras
		ok bool
	)
	if envelope {
		e, x, ok = parseErrorBody(raw)
	} else {
		e, x, ok = parseErrorObject(raw)
	}
	if !ok || (e.Message == "" && errorCode(e.Code) == "" && e.Type == "") {
		return nil
	}
	status := x.StatusCode
	if status == 0 {
		if c, ok := e.Code.(int); ok && c >= 100 && c <= 599 {
			status = c
		}
	}
	if status == 0 {
		var n int
		if json.Unmarshal(x.Status, &n) == nil {
			status = n
		}
	}
	e.HTTPStatusCode = status
	me := classify(status, e, x)
	me.StatusCode = status
	me.Err = e
	return me
}

// classify decides the kind of a provider error from its status, code,
// type and, for the kinds that servers report only in prose, its message.
// Order: invalid output, context length, content filter, quota and auth,
// rate limit, then by status.
func classify(status int, e *goopenai.APIError, x errorExtras) *ratchet.ModelError {
	code := errorCode(e.Code)
	me := &ratchet.ModelError{Code: code, Message: e.Message}
	if me.Code == "" {
		me.Code = e.Type
	}
	statusName := ""
	if len(x.Status) > 0 && x.Status[0] == '"' {
		_ = json.Unmarshal(x.Status, &statusName)
	}
	inner := ""
	if x.InnerError != nil {
		inner = x.InnerError.Code
	}
	lowerMsg := strings.ToLower(e.Message)
	clientSide := status == 0 || (status >= 400 && status < 500)

	switch {
	case code == "tool_use_failed" || code == "json_validate_failed" || x.FailedGeneration != "":
		me.Kind = ratchet.ModelInvalidOutput
		me.Output = x.FailedGeneration
	case code == "context_length_exceeded" || e.Type == "exceed_context_size_error" ||
		code == "exceed_context_size_error" || (clientSide && mentionsContextLength(lowerMsg)):
		me.Kind = ratchet.ModelContextLength
	case code == "content_filter" || code == "content_policy_violation" ||
		inner == "ResponsibleAIPolicyViolation" || e.Type == "content_filter":
		me.Kind = ratchet.ModelContentFilter
	case code == "insufficient_quota" || status == http.StatusPaymentRequired:
		// Out of credit: waiting does not help. OpenAI sends this as a 429.
		me.Kind = ratchet.ModelAuth
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		code == "invalid_api_key" || statusName == "UNAUTHENTICATED" || statusName == "PERMISSION_DENIED":
		me.Kind = ratchet.ModelAuth
	case status == http.StatusTooManyRequests || code == "rate_limit_exceeded" || statusName == "RESOURCE_EXHAUSTED":
		me.Kind = ratchet.ModelRateLimited
	case status == http.StatusRequestTimeout:
		me.Kind = ratchet.ModelTimeout
	case status >= 500 || status == http.StatusConflict || status == 0:
		me.Kind = ratchet.ModelTransient
	default:
		me.Kind = ratchet.ModelBadRequest
	}
	return me
}

// mentionsContextLength reports whether a lower-cased error message is one
// of the known ways servers say the prompt does not fit: OpenAI, vLLM,
// DeepSeek and OpenRouter ("maximum context length"), llama.cpp ("exceeds
// the available context size"), Anthropic ("prompt is too long"), Gemini
// ("exceeds the maximum number of tokens"), Mistral ("too large for model
// with ... maximum context length").
func mentionsContextLength(msg string) bool {
	for _, s := range [...]string{
		"maximum context length",
		"context length exceeded",
		"context_length_exceeded",
		"context window",
		"available context size",
		"prompt is too long",
		"exceeds the maximum number of tokens",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// errorCode renders an error code, which servers send as a string, a
// number or null.
func errorCode(c any) string {
	switch v := c.(type) {
	case nil:
		return ""
	case string:
		return v
	case int:
		if v == 0 {
			// go-openai decodes "code": null as 0.
			return ""
		}
		return strconv.Itoa(v)
	}
	return fmt.Sprint(c)
}

// retryAfter is the delay a response asks for: retry-after-ms, else
// Retry-After (seconds or an HTTP date), else, for a 429 only, the longest
// of the rate-limit reset headers (x-ratelimit-reset-requests and
// -tokens as durations like "6m0s" or "20ms" from OpenAI and Groq, and
// OpenRouter's x-ratelimit-reset as epoch milliseconds). Absolute times are
// measured from the response's Date header, or from now when it has none.
// It returns 0 when there is no usable header.
func retryAfter(status int, h http.Header, now time.Time) time.Duration {
	base := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		base = d
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f > 0 {
			return time.Duration(f * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return positive(time.Duration(f * float64(time.Second)))
		}
		if t, err := http.ParseTime(v); err == nil {
			return positive(t.Sub(base))
		}
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	var longest time.Duration
	for _, name := range [...]string{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens", "X-Ratelimit-Reset"} {
		if d := parseReset(h.Get(name), base); d > longest {
			longest = d
		}
	}
	return longest
}

// parseReset reads a rate-limit reset value: a Go-style duration ("1s",
// "6m0s", "2m59.56s", "20ms"), epoch milliseconds or seconds (told apart by
// size), or a number of seconds.
func parseReset(v string, base time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return positive(d)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	switch {
	case f > 1e12:
		return positive(time.UnixMilli(int64(f)).Sub(base))
	case f > 1e9:
		return positive(time.Unix(int64(f), 0).Sub(base))
	}
	return positive(time.Duration(f * float64(time.Second)))
}

func positive(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// transportError classifies a failure to send the request or to read the
// response: the caller's context ending (deadline → timeout; cancellation
// → transient, still matching context.Canceled through errors.Is), a
// network timeout (timeout), or any other network error (transient).
func transportError(ctx context.Context, err error, code string) *ratchet.ModelError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		me := &ratchet.ModelError{Kind: ratchet.ModelTransient, Code: code, Err: ctxErr}
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			me.Kind = ratchet.ModelTimeout
		}
		if cause := context.Cause(ctx); cause != ctxErr {
			me.Message = cause.Error()
		}
		return me
	}
	me := &ratchet.ModelError{Kind: ratchet.ModelTransient, Code: code, Err: err}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		me.Kind = ratchet.ModelTimeout
	}
	return me
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
