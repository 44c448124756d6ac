package ratchet

import (
	"context"
	"log/slog"
)

// NewSlogObserver returns an Observer that logs every event to l with
// run_id, agent, step, status and, where they apply, tool, model, usage,
// duration and error attributes. Model and tool calls and checkpoints log at
// Debug; failures, suspensions and budget warnings at Warn; the rest at
// Info. A nil l means slog.Default().
func NewSlogObserver(l *slog.Logger) Observer {
	if l == nil {
		l = slog.Default()
	}
	return slogObserver{l: l}
}

type slogObserver struct{ l *slog.Logger }

func (o slogObserver) Observe(ctx context.Context, e Event) {
	level := slog.LevelInfo
	switch e.Kind {
	case EventModelCall, EventToolCall, EventCheckpoint, EventStepStarted:
		level = slog.LevelDebug
	case EventRunSuspended, EventBudgetWarning:
		level = slog.LevelWarn
	}
	if e.Err != nil {
		level = slog.LevelWarn
	}
	if !o.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String("run_id", e.RunID), slog.String("agent", e.Agent))
	if e.Step != 0 {
		attrs = append(attrs, slog.Int("step", e.Step))
	}
	if e.Status != "" {
		attrs = append(attrs, slog.String("status", string(e.Status)))
	}
	switch e.Kind {
	case EventModelCall:
		attrs = append(attrs, slog.String("model", e.Model), slog.Int("attempt", e.Attempt),
			slog.Duration("latency", e.Latency), slog.Int64("input_tokens", e.Usage.InputTokens),
			slog.Int64("output_tokens", e.Usage.OutputTokens))
		if e.CostUSD != 0 {
			attrs = append(attrs, slog.Float64("cost_usd", e.CostUSD))
		}
		if e.RetryDelay != 0 {
			attrs = append(attrs, slog.Duration("retry_delay", e.RetryDelay))
		}
	case EventToolCall:
		attrs = append(attrs, slog.String("tool", e.Tool), slog.String("call_id", e.CallID),
			slog.String("idempotency_key", e.Key), slog.Int("attempt", e.Attempt),
			slog.Int("arg_bytes", e.ArgBytes), slog.Int("result_bytes", e.ResultBytes),
			slog.Duration("duration", e.Duration))
	case EventCheckpoint:
		attrs = append(attrs, slog.Uint64("seq", e.Seq), slog.Int("records", e.Records))
	case EventBudgetWarning:
		attrs = append(attrs, slog.String("budget", string(e.Budget)), slog.Float64("limit", e.Limit), slog.Float64("used", e.Used))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	o.l.LogAttrs(ctx, level, "ratchet: "+string(e.Kind), attrs...)
}
