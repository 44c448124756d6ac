package ratchet

import (
	"fmt"
	"strings"
	"time"
)

// ModelErrorKind classifies a failed model call. The retry policy decides
// from the kind, never from message text.
type ModelErrorKind string

// The model error kinds. Adapters classify provider errors into them.
const (
	// ModelRateLimited: the provider throttled the call (HTTP 429). Retried,
	// honouring RetryAfter.
	ModelRateLimited ModelErrorKind = "rate_limited"
	// ModelTransient: a server error (5xx), a network error or a broken
	// stream. Retried.
	ModelTransient ModelErrorKind = "transient"
	// ModelTimeout: the call exceeded its deadline. Retried.
	ModelTimeout ModelErrorKind = "timeout"
	// ModelBadRequest: the provider rejected the request (400, 404, 422).
	// Not retried.
	ModelBadRequest ModelErrorKind = "bad_request"
	// ModelAuth: missing or invalid credentials, or no permission (401,
	// 403). Not retried.
	ModelAuth ModelErrorKind = "auth"
	// ModelContextLength: the prompt exceeds the model's context window.
	// Not retried as is; the history policy may shorten the prompt.
	ModelContextLength ModelErrorKind = "context_length"
	// ModelContentFilter: the provider's content filter refused the prompt
	// or the response. Not retried.
	ModelContentFilter ModelErrorKind = "content_filter"
	// ModelInvalidOutput: the server itself failed to parse the model's
	// output (for example Groq's tool_use_failed). Handled like
	// unparseable output: a repair turn.
	ModelInvalidOutput ModelErrorKind = "invalid_output"
)

// ModelError is a failed model call, classified at the adapter boundary.
type ModelError struct {
	Kind ModelErrorKind
	// StatusCode is the HTTP status, 0 when there was none.
	StatusCode int
	// RetryAfter is the delay the provider asked for (Retry-After or its
	// rate-limit headers), 0 when it gave none.
	RetryAfter time.Duration
	// Code is the provider's error code or type, if any.
	Code string
	// Message is the provider's error message, if any.
	Message string
	// Output is what the model produced, when the provider reports it
	// (ModelInvalidOutput's failed generation).
	Output string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns a one-line description starting with "ratchet: model".
func (e *ModelError) Error() string {
	var b strings.Builder
	b.WriteString("ratchet: model ")
	b.WriteString(string(e.Kind))
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (status %d)", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ModelError) Unwrap() error { return e.Err }

// Retryable reports whether the default retry policy retries this kind:
// rate limits, transient errors and timeouts.
func (e *ModelError) Retryable() bool {
	switch e.Kind {
	case ModelRateLimited, ModelTransient, ModelTimeout:
		return true
	}
	return false
}
