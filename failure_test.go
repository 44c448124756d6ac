package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// logOf decodes every record of run id in st.
func logOf(t *testing.T, st *store.Memory, id string) []*ratchet.Record {
	t.Helper()
	srs, err := st.Read(context.Background(), id, 1)
	require.NoError(t, err)
	out := make([]*ratchet.Record, len(srs))
	for i, sr := range srs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		require.NoError(t, err)
		out[i] = r
	}
	return out
}

// kindsOf lists the kinds of recs, without snapshots.
func kindsOf(recs []*ratchet.Record) []ratchet.RecordKind {
	var out []ratchet.RecordKind
	for _, r := range recs {
		if r.Kind != ratchet.RecSnapshot {
			out = append(out, r.Kind)
		}
	}
	return out
}

// ofKind returns the records of kind k.
func ofKind(recs []*ratchet.Record, k ratchet.RecordKind) []*ratchet.Record {
	var out []*ratchet.Record
	for _, r := range recs {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// requireFolds checks that the persisted log folds to the run's live state.
func requireFolds(t *testing.T, st *store.Memory, run *ratchet.Run) {
	t.Helper()
	loaded, err := ratchet.LoadState(context.Background(), st, run.ID())
	require.NoError(t, err)
	require.Equal(t, run.State(), loaded)
}

type netErr struct{}

func (netErr) Error() string   { return "connection reset" }
func (netErr) Timeout() bool   { return false }
func (netErr) Temporary() bool { return true }

var _ net.Error = netErr{}

func TestErrorTypesMatchSentinels(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	for name, tc := range map[string]struct {
		err      error
		sentinel error
		text     string
	}{
		"model":  {&ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, RetryAfter: 3 * time.Second, Err: cause}, ratchet.ErrModelFailed, "ratchet: model rate_limited (status 429): boom (retry after 3s)"},
		"tool":   {&ratchet.ToolError{Tool: "add", CallID: "c1", Attempt: 2, Kind: ratchet.ToolErrorTimeout, Err: cause}, ratchet.ErrToolFailed, `ratchet: tool "add" (call c1, attempt 2) timeout: boom`},
		"parse":  {&ratchet.ParseError{Kind: ratchet.ParseArguments, Raw: "{", Reason: "not JSON", Repairs: 2}, ratchet.ErrUnparseable, "ratchet: unparseable model output (arguments) after 2 repairs: not JSON"},
		"budget": {&ratchet.BudgetError{Budget: ratchet.BudgetSteps, Limit: 3, Used: 3}, ratchet.ErrBudgetExceeded, "ratchet: budget exceeded: steps used 3 of limit 3"},
	} {
		require.Equal(t, tc.text, tc.err.Error(), name)
		wrapped := fmt.Errorf("run x: %w", tc.err)
		require.ErrorIs(t, wrapped, tc.sentinel, name)
		for _, other := range []error{ratchet.ErrModelFailed, ratchet.ErrToolFailed, ratchet.ErrUnparseable, ratchet.ErrBudgetExceeded} {
			if other != tc.sentinel {
				require.NotErrorIs(t, wrapped, other, name)
			}
		}
	}

	// Model and tool errors wrap their cause.
	me := fmt.Errorf("x: %w", &ratchet.ModelError{Kind: ratchet.ModelTransient, Err: cause})
	require.ErrorIs(t, me, cause)
	got, ok := errors.AsType[*ratchet.ModelError](me)
	require.True(t, ok)
	require.Equal(t, ratchet.ModelTransient, got.Kind)
	te := fmt.Errorf("x: %w", &ratchet.ToolError{Kind: ratchet.ToolErrorPanic, Stack: []byte("goroutine 1"), Err: cause})
	require.ErrorIs(t, te, cause)
	gotT, ok := errors.AsType[*ratchet.ToolError](te)
	require.True(t, ok)
	require.Equal(t, "goroutine 1", string(gotT.Stack))

	// A parse error wraps the validation error behind it.
	pe := &ratchet.ParseError{Kind: ratchet.ParseArguments, Err: cause}
	require.ErrorIs(t, pe, cause)
	require.ErrorIs(t, pe, ratchet.ErrUnparseable)
}

func TestModelErrorRetryable(t *testing.T) {
	t.Parallel()
	for kind, want := range map[ratchet.ModelErrorKind]bool{
		ratchet.ModelRateLimited:   true,
		ratchet.ModelTransient:     true,
		ratchet.ModelTimeout:       true,
		ratchet.ModelBadRequest:    false,
		ratchet.ModelAuth:          false,
		ratchet.ModelContextLength: false,
		ratchet.ModelContentFilter: false,
		ratchet.ModelInvalidOutput: false,
	} {
		require.Equal(t, want, (&ratchet.ModelError{Kind: kind}).Retryable(), kind)
	}
}

func TestDefaultRetryClassifier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want ratchet.RetryDecision
	}{
		{"429 with retry-after", &ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, RetryAfter: 7 * time.Second}, ratchet.RetryDecision{Retry: true, Delay: 7 * time.Second}},
		{"429", &ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429}, ratchet.RetryDecision{Retry: true}},
		{"500", &ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 500}, ratchet.RetryDecision{Retry: true}},
		{"503 wrapped", fmt.Errorf("call: %w", &ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 503}), ratchet.RetryDecision{Retry: true}},
		{"timeout", &ratchet.ModelError{Kind: ratchet.ModelTimeout}, ratchet.RetryDecision{Retry: true}},
		{"400", &ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400}, ratchet.RetryDecision{}},
		{"401", &ratchet.ModelError{Kind: ratchet.ModelAuth, StatusCode: 401}, ratchet.RetryDecision{}},
		{"403", &ratchet.ModelError{Kind: ratchet.ModelAuth, StatusCode: 403}, ratchet.RetryDecision{}},
		{"context length", &ratchet.ModelError{Kind: ratchet.ModelContextLength, StatusCode: 400}, ratchet.RetryDecision{}},
		{"content filter", &ratchet.ModelError{Kind: ratchet.ModelContentFilter}, ratchet.RetryDecision{}},
		{"network", fmt.Errorf("dial: %w", netErr{}), ratchet.RetryDecision{Retry: true}},
		{"deadline", context.DeadlineExceeded, ratchet.RetryDecision{Retry: true}},
		{"cancelled", context.Canceled, ratchet.RetryDecision{}},
		{"cancelled model error", &ratchet.ModelError{Kind: ratchet.ModelTransient, Err: context.Canceled}, ratchet.RetryDecision{}},
		{"tool returned", &ratchet.ToolError{Kind: ratchet.ToolErrorReturned}, ratchet.RetryDecision{Retry: true}},
		{"tool timeout", &ratchet.ToolError{Kind: ratchet.ToolErrorTimeout}, ratchet.RetryDecision{Retry: true}},
		{"tool panic", &ratchet.ToolError{Kind: ratchet.ToolErrorPanic}, ratchet.RetryDecision{}},
		{"plain", errors.New("x"), ratchet.RetryDecision{}},
	} {
		require.Equal(t, tc.want, ratchet.DefaultRetryClassifier(tc.err), tc.name)
	}
}

func TestRetryPolicyBackoff(t *testing.T) {
	t.Parallel()
	zero := func() float64 { return 0 }
	half := func() float64 { return 0.5 }
	almostOne := func() float64 { return 0.999 }
	for _, tc := range []struct {
		name    string
		p       ratchet.RetryPolicy
		attempt int
		random  func() float64
		want    time.Duration
	}{
		{"default 1 no jitter draw", ratchet.RetryPolicy{}, 1, zero, time.Second},
		{"default 2", ratchet.RetryPolicy{}, 2, zero, 2 * time.Second},
		{"default 3", ratchet.RetryPolicy{}, 3, zero, 4 * time.Second},
		{"default capped", ratchet.RetryPolicy{}, 10, zero, 30 * time.Second},
		{"huge attempt capped", ratchet.RetryPolicy{}, 5000, zero, 30 * time.Second},
		{"full jitter half", ratchet.RetryPolicy{}, 3, half, 2 * time.Second},
		{"full jitter near one", ratchet.RetryPolicy{}, 1, almostOne, time.Millisecond},
		{"nil random", ratchet.RetryPolicy{}, 2, nil, 2 * time.Second},
		{"jitter disabled", ratchet.RetryPolicy{Jitter: -1}, 2, half, 2 * time.Second},
		{"partial jitter", ratchet.RetryPolicy{Jitter: 0.2}, 1, half, 900 * time.Millisecond},
		{"custom", ratchet.RetryPolicy{InitialDelay: 100 * time.Millisecond, Multiplier: 3, MaxDelay: time.Second, Jitter: -1}, 3, nil, 900 * time.Millisecond},
		{"custom capped", ratchet.RetryPolicy{InitialDelay: 100 * time.Millisecond, Multiplier: 3, MaxDelay: time.Second, Jitter: -1}, 4, nil, time.Second},
	} {
		got := tc.p.Backoff(tc.attempt, tc.random)
		require.InDelta(t, float64(tc.want), float64(got), float64(time.Millisecond), tc.name)
	}
}

func TestBudgetErrorPersistedKind(t *testing.T) {
	t.Parallel()
	// Errors reach the log with a stable kind.
	b := setup(t)
	m := ratchettest.NewModel(t, ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400, Message: "bad"}))
	a := b.agent(t, m, nil)
	_, err := a.Run(context.Background(), "go", nil)
	require.ErrorIs(t, err, ratchet.ErrModelFailed)
	recs := logOf(t, b.store, "run-1")
	last := recs[len(recs)-1]
	require.Equal(t, ratchet.RecRunFailed, last.Kind)
	require.Equal(t, "model:bad_request", last.Error.Kind)
	require.True(t, strings.Contains(last.Error.Message, "status 400"))
}
