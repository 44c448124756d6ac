package ratchet

import (
	"context"
	"errors"
	"math"
	"net"
	"time"
)

// Defaults of RetryPolicy.
const (
	RetryMaxAttemptsDefault   = 4
	RetryInitialDelayDefault  = time.Second
	RetryMaxDelayDefault      = 30 * time.Second
	RetryMultiplierDefault    = 2.0
	RetryJitterDefault        = 1.0
	RetryMaxRetryAfterDefault = time.Minute
)

// RetryPolicy schedules retries of a failed call. The zero value is the
// default policy for model calls:
//
//	attempt 1 fails → wait rand[0, 1s) → attempt 2 fails → wait rand[0, 2s)
//	→ attempt 3 fails → wait rand[0, 4s) → attempt 4 fails → give up.
//
// That is: up to MaxAttempts attempts; before attempt n+1 the delay is
// min(MaxDelay, InitialDelay × Multiplier^(n-1)) reduced by a random
// fraction of up to Jitter (1 = "full jitter"). When the error carries a
// Retry-After (a *ModelError's RetryAfter), that delay is used instead,
// capped at MaxRetryAfter.
//
// Whether an error is retried is decided by Classify, apart from how long to
// wait. By default, model errors of kind rate_limited, transient and timeout
// and network errors are retried; bad_request, auth (400/401/403),
// context_length, content_filter and invalid_output are not, nor is a
// cancelled context.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt. Defaults to 4
	// (RetryMaxAttemptsDefault); 1 disables retries.
	MaxAttempts int
	// InitialDelay defaults to 1s (RetryInitialDelayDefault).
	InitialDelay time.Duration
	// MaxDelay defaults to 30s (RetryMaxDelayDefault).
	MaxDelay time.Duration
	// Multiplier defaults to 2 (RetryMultiplierDefault).
	Multiplier float64
	// Jitter is the largest random fraction taken off a delay. Defaults to
	// 1 (RetryJitterDefault, full jitter); negative disables jitter.
	Jitter float64
	// MaxRetryAfter caps a server's Retry-After. Defaults to 1m
	// (RetryMaxRetryAfterDefault).
	MaxRetryAfter time.Duration
	// Classify decides whether err is retried. Defaults to
	// DefaultRetryClassifier.
	Classify func(err error) RetryDecision
}

// RetryDecision is what a RetryPolicy's classifier decided about one error.
type RetryDecision struct {
	// Retry is true to try again (if attempts are left).
	Retry bool
	// Delay, when positive, overrides the policy's backoff for this retry.
	Delay time.Duration
}

// DefaultRetryClassifier retries *ModelError values whose kind is
// retryable (honouring RetryAfter), *ToolError timeouts and plain tool
// errors, and network errors; never a cancelled context.
func DefaultRetryClassifier(err error) RetryDecision {
	if errors.Is(err, context.Canceled) {
		return RetryDecision{}
	}
	var me *ModelError
	if errors.As(err, &me) {
		return RetryDecision{Retry: me.Retryable(), Delay: me.RetryAfter}
	}
	var te *ToolError
	if errors.As(err, &te) {
		return RetryDecision{Retry: te.Kind == ToolErrorReturned || te.Kind == ToolErrorTimeout}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return RetryDecision{Retry: true}
	}
	return RetryDecision{}
}

// withDefaults returns p with zero fields set to their defaults.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = RetryMaxAttemptsDefault
	}
	if p.InitialDelay <= 0 {
		p.InitialDelay = RetryInitialDelayDefault
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = RetryMaxDelayDefault
	}
	if p.Multiplier <= 0 {
		p.Multiplier = RetryMultiplierDefault
	}
	if p.Jitter == 0 {
		p.Jitter = RetryJitterDefault
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = RetryMaxRetryAfterDefault
	}
	if p.Classify == nil {
		p.Classify = DefaultRetryClassifier
	}
	return p
}

// next decides about err after attempt (1-based): whether to retry and
// after what delay. random returns a value in [0, 1). p must have defaults.
func (p RetryPolicy) next(err error, attempt int, random func() float64) (time.Duration, bool) {
	if attempt >= p.MaxAttempts {
		return 0, false
	}
	d := p.Classify(err)
	if !d.Retry {
		return 0, false
	}
	if d.Delay > 0 {
		return min(d.Delay, p.MaxRetryAfter), true
	}
	return p.Backoff(attempt, random), true
}

// Backoff returns the delay after the given failed attempt (1-based), with
// jitter drawn from random (values in [0, 1)). p's zero fields mean their
// defaults.
func (p RetryPolicy) Backoff(attempt int, random func() float64) time.Duration {
	p = p.withDefaults()
	base := float64(p.InitialDelay) * math.Pow(p.Multiplier, float64(attempt-1))
	if base > float64(p.MaxDelay) || math.IsInf(base, 0) || math.IsNaN(base) {
		base = float64(p.MaxDelay)
	}
	if p.Jitter > 0 && random != nil {
		j := min(p.Jitter, 1)
		base -= base * j * random()
	}
	return time.Duration(base)
}
