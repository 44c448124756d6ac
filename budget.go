package ratchet

import (
	"fmt"
	"strings"
	"time"
)

// Unlimited is the value that lifts a Budget field's limit explicitly. A
// zero field means the field's default, so no budget is unlimited by
// accident.
const Unlimited = -1

// Defaults of Budget.
const (
	MaxStepsDefault        = 100
	MaxWallTimeDefault     = 30 * time.Minute
	MaxTotalTokensDefault  = 5_000_000
	MaxToolCallsDefault    = 1000
	MaxCostUSDDefault      = 10.0
	ModelTimeoutDefault    = 5 * time.Minute
	StepTimeoutDefault     = 15 * time.Minute
	MaxInputTokensDefault  = Unlimited
	MaxOutputTokensDefault = Unlimited
)

// Budget limits one run. Budgets are checked before each model call and
// after each response; exceeding one pauses the run with a *BudgetError and
// discards nothing. Raising the budget (RunOptions.Budget) and calling Step
// again continues the run where it stopped.
//
// A zero field means its default; Unlimited (-1) lifts a limit. Wall time is
// the run's active running time, carried across resumes (time spent paused,
// waiting or not loaded does not count).
//
// A Budget persisted in a run_resumed record (State.Budget, written by the
// ratchet CLI's retry command) is an override: only its non-zero fields
// replace the agent's. Its JSON form uses the snake_case names of its
// fields, with durations in nanoseconds.
type Budget struct {
	// MaxSteps defaults to 100 (MaxStepsDefault): a model stuck in a loop
	// stops there.
	MaxSteps int `json:"max_steps,omitempty"`
	// MaxWallTime defaults to 30m (MaxWallTimeDefault).
	MaxWallTime time.Duration `json:"max_wall_time,omitempty"`
	// MaxInputTokens defaults to Unlimited (MaxInputTokensDefault); the
	// total covers it.
	MaxInputTokens int64 `json:"max_input_tokens,omitempty"`
	// MaxOutputTokens defaults to Unlimited (MaxOutputTokensDefault).
	MaxOutputTokens int64 `json:"max_output_tokens,omitempty"`
	// MaxTotalTokens (input + output) defaults to 5,000,000
	// (MaxTotalTokensDefault).
	MaxTotalTokens int64 `json:"max_total_tokens,omitempty"`
	// MaxCostUSD defaults to 10 (MaxCostUSDDefault). Cost is computed from
	// the agent's Pricing; models missing from it cost nothing.
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
	// MaxToolCalls (attempts included) defaults to 1000 (MaxToolCallsDefault).
	MaxToolCalls int `json:"max_tool_calls,omitempty"`
	// ModelTimeout bounds one model call attempt; it fails as a retryable
	// timeout. Defaults to 5m (ModelTimeoutDefault).
	ModelTimeout time.Duration `json:"model_timeout,omitempty"`
	// StepTimeout bounds one step; exceeding it pauses the run. Defaults
	// to 15m (StepTimeoutDefault).
	StepTimeout time.Duration `json:"step_timeout,omitempty"`
	// WindDown, when true, asks the model once, without tools, for its best
	// final answer when a budget is reached, instead of pausing.
	WindDown bool `json:"wind_down,omitempty"`
}

func (b Budget) withDefaults() Budget {
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	if b.MaxSteps == 0 {
		b.MaxSteps = MaxStepsDefault
	}
	if b.MaxWallTime == 0 {
		b.MaxWallTime = MaxWallTimeDefault
	}
	def(&b.MaxInputTokens, MaxInputTokensDefault)
	def(&b.MaxOutputTokens, MaxOutputTokensDefault)
	def(&b.MaxTotalTokens, MaxTotalTokensDefault)
	if b.MaxCostUSD == 0 {
		b.MaxCostUSD = MaxCostUSDDefault
	}
	if b.MaxToolCalls == 0 {
		b.MaxToolCalls = MaxToolCallsDefault
	}
	if b.ModelTimeout == 0 {
		b.ModelTimeout = ModelTimeoutDefault
	}
	if b.StepTimeout == 0 {
		b.StepTimeout = StepTimeoutDefault
	}
	return b
}

// overlay returns b with every non-zero field of o in place of b's (and
// WindDown set when o sets it).
func (b Budget) overlay(o Budget) Budget {
	set := func(v *int64, w int64) {
		if w != 0 {
			*v = w
		}
	}
	if o.MaxSteps != 0 {
		b.MaxSteps = o.MaxSteps
	}
	if o.MaxWallTime != 0 {
		b.MaxWallTime = o.MaxWallTime
	}
	set(&b.MaxInputTokens, o.MaxInputTokens)
	set(&b.MaxOutputTokens, o.MaxOutputTokens)
	set(&b.MaxTotalTokens, o.MaxTotalTokens)
	if o.MaxCostUSD != 0 {
		b.MaxCostUSD = o.MaxCostUSD
	}
	if o.MaxToolCalls != 0 {
		b.MaxToolCalls = o.MaxToolCalls
	}
	if o.ModelTimeout != 0 {
		b.ModelTimeout = o.ModelTimeout
	}
	if o.StepTimeout != 0 {
		b.StepTimeout = o.StepTimeout
	}
	b.WindDown = b.WindDown || o.WindDown
	return b
}

// String lists the non-zero fields of b, for example
// "max_steps=200 max_cost_usd=20" (a stable form, used by Record.String).
func (b Budget) String() string {
	var parts []string
	add := func(name string, v any, set bool) {
		if set {
			parts = append(parts, fmt.Sprintf("%s=%v", name, v))
		}
	}
	add("max_steps", b.MaxSteps, b.MaxSteps != 0)
	add("max_wall_time", b.MaxWallTime, b.MaxWallTime != 0)
	add("max_input_tokens", b.MaxInputTokens, b.MaxInputTokens != 0)
	add("max_output_tokens", b.MaxOutputTokens, b.MaxOutputTokens != 0)
	add("max_total_tokens", b.MaxTotalTokens, b.MaxTotalTokens != 0)
	add("max_cost_usd", b.MaxCostUSD, b.MaxCostUSD != 0)
	add("max_tool_calls", b.MaxToolCalls, b.MaxToolCalls != 0)
	add("model_timeout", b.ModelTimeout, b.ModelTimeout != 0)
	add("step_timeout", b.StepTimeout, b.StepTimeout != 0)
	add("wind_down", b.WindDown, b.WindDown)
	return strings.Join(parts, " ")
}

// check returns the first budget s has reached, or nil. b must have
// defaults. Before a model call (beforeCall), steps count as reached at the
// limit; after a response they are not checked, since the step that
// responded is within it. Tool calls are reached only past the limit: a run
// that used all its calls may still give its final answer (calls past it
// are refused when a response asks for them, in handleResponse).
func (b Budget) check(s *State, beforeCall bool) *BudgetError {
	type lim struct {
		kind        BudgetKind
		limit, used float64
	}
	steps := float64(b.MaxSteps)
	if !beforeCall {
		steps = -1
	}
	for _, l := range [...]lim{
		{BudgetSteps, steps, float64(s.Step)},
		{BudgetWallTime, b.MaxWallTime.Seconds(), s.Active.Seconds()},
		{BudgetInputTokens, float64(b.MaxInputTokens), float64(s.Usage.InputTokens)},
		{BudgetOutputTokens, float64(b.MaxOutputTokens), float64(s.Usage.OutputTokens)},
		{BudgetTotalTokens, float64(b.MaxTotalTokens), float64(s.Usage.Total())},
		{BudgetCost, b.MaxCostUSD, s.CostUSD},
	} {
		if l.limit >= 0 && l.used >= l.limit {
			return &BudgetError{Budget: l.kind, Limit: l.limit, Used: l.used}
		}
	}
	if lim := b.MaxToolCalls; lim >= 0 && s.ToolCalls > lim {
		return &BudgetError{Budget: BudgetToolCalls, Limit: float64(lim), Used: float64(s.ToolCalls)}
	}
	return nil
}

// Price is what one model costs, in US dollars per million tokens.
type Price struct {
	InputPerMTok       float64
	CachedInputPerMTok float64
	OutputPerMTok      float64
}

// Pricing maps model names (as the Response or Config.ModelName gives
// them) to prices.
type Pricing map[string]Price

// Cost returns the cost in US dollars of usage on model, 0 for a model
// missing from p. Cached input tokens are charged at the cached price.
func (p Pricing) Cost(model string, u Usage) float64 {
	pr, ok := p[model]
	if !ok {
		return 0
	}
	uncached := u.InputTokens - u.CachedInputTokens
	return (float64(uncached)*pr.InputPerMTok +
		float64(u.CachedInputTokens)*pr.CachedInputPerMTok +
		float64(u.OutputTokens)*pr.OutputPerMTok) / 1e6
}
