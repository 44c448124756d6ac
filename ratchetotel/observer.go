package ratchetotel

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ratchet-run/ratchet"
)

// Options configures an Observer. A nil *Options means the zero Options.
type Options struct {
	// ProviderName is the gen_ai.provider.name of model call spans, such as
	// "openai". Defaults to none: the attribute is left out.
	ProviderName string
}

// Observer is a ratchet.Observer that turns a run's events into
// OpenTelemetry spans. It is safe for concurrent use; create one with New
// and end its open spans with Shutdown or Close.
type Observer struct {
	tracer trace.Tracer
	opts   Options

	mu     sync.Mutex
	runs   map[string]*openRun // by run ID
	closed bool
}

// openRun holds the open spans of one run.
type openRun struct {
	run  trace.Span
	step trace.Span // nil between steps
	// ending is the run_suspended or run_ended event seen while a step was
	// open; the run span ends after the step span, at step_finished.
	ending *ratchet.Event
}

var _ ratchet.CallObserver = (*Observer)(nil)

// New returns an Observer that creates spans with a tracer from tp, under
// the instrumentation scope ScopeName. It panics if tp is nil: pass
// otel.GetTracerProvider() explicitly to use the global provider. The
// Observer never shuts tp down.
func New(tp trace.TracerProvider, opts *Options) *Observer {
	if tp == nil {
		panic("ratchetotel: New with a nil TracerProvider")
	}
	o := &Observer{tracer: tp.Tracer(ScopeName), runs: make(map[string]*openRun)}
	if opts != nil {
		o.opts = *opts
	}
	return o
}

// Observe turns e into span operations; see the package doc for the
// mapping. Events that arrive after Shutdown are ignored.
func (o *Observer) Observe(ctx context.Context, e ratchet.Event) {
	switch e.Kind {
	case ratchet.EventRunStarted, ratchet.EventRunResumed:
		o.startRun(ctx, e)
	case ratchet.EventRunSuspended, ratchet.EventRunEnded:
		o.endRun(ctx, e)
	case ratchet.EventStepStarted:
		o.startStep(ctx, e)
	case ratchet.EventStepFinished:
		o.finishStep(e)
	case ratchet.EventModelCall:
		o.modelCall(ctx, e)
	case ratchet.EventToolCall:
		o.toolCall(ctx, e)
	case ratchet.EventCheckpoint:
		o.spanEvent(e, EventCheckpoint, AttrSeq.Int64(int64(e.Seq)), AttrRecords.Int(e.Records))
	case ratchet.EventBudgetWarning:
		o.spanEvent(e, EventBudgetWarning, AttrBudget.String(string(e.Budget)),
			AttrBudgetLimit.Float64(e.Limit), AttrBudgetUsed.Float64(e.Used))
	}
}

// Shutdown ends every open step and run span, as of now, and makes the
// Observer ignore later events. It does not shut down the TracerProvider:
// flush that with its own Shutdown afterwards. It returns ctx's error if ctx
// ends before every span has ended.
func (o *Observer) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	runs := o.runs
	o.runs = make(map[string]*openRun)
	o.closed = true
	o.mu.Unlock()
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.step != nil {
			r.step.End()
		}
		r.run.End()
	}
	return nil
}

// Close calls Shutdown with a background context.
func (o *Observer) Close() error { return o.Shutdown(context.Background()) }

// identity returns the attributes every span of e's run carries.
func identity(e ratchet.Event) []attribute.KeyValue {
	return []attribute.KeyValue{
		AttrAgentName.String(e.Agent),
		AttrConversationID.String(e.RunID),
		AttrRunID.String(e.RunID),
	}
}

// spanName joins an operation and its subject, as the conventions name
// spans ("chat gpt-4o"), leaving the subject out when it is empty.
func spanName(op, subject string) string {
	if subject == "" {
		return op
	}
	return op + " " + subject
}

// startRunLocked starts e's run span with parent ctx. o.mu is held.
func (o *Observer) startRunLocked(ctx context.Context, e ratchet.Event, resumed bool) *openRun {
	attrs := append(identity(e), AttrOperationName.String(OperationInvokeAgent), AttrStatus.String(string(e.Status)))
	if resumed {
		attrs = append(attrs, AttrResumed.Bool(true), AttrStep.Int(e.Step))
	}
	_, span := o.tracer.Start(ctx, spanName(OperationInvokeAgent, e.Agent),
		trace.WithTimestamp(e.Time), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	r := &openRun{run: span}
	o.runs[e.RunID] = r
	return r
}

// startRun starts the run span of a new run. A resumed run gets its span
// at its first step instead (startStep): a Run may be loaded only to be
// looked at, as the Scheduler does with runs that are not running, and a
// span begun then would stay open until Shutdown.
func (o *Observer) startRun(ctx context.Context, e ratchet.Event) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	old := o.runs[e.RunID]
	switch {
	case e.Kind == ratchet.EventRunStarted:
		o.startRunLocked(ctx, e, false)
	case old != nil && old.step == nil:
		// Loaded again between steps, as the Scheduler's worker loads a
		// run its StartRun created: the run span goes on.
		old = nil
	default:
		delete(o.runs, e.RunID)
	}
	o.mu.Unlock()
	if old != nil { // loaded again mid-step: close the stale spans
		if old.step != nil {
			old.step.End(trace.WithTimestamp(e.Time))
		}
		old.run.End(trace.WithTimestamp(e.Time))
	}
}

func (o *Observer) endRun(ctx context.Context, e ratchet.Event) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	r := o.runs[e.RunID]
	if r == nil {
		// Between steps of a resumed run, such as a cancellation: a
		// zero-length run span records it.
		r = o.startRunLocked(ctx, e, true)
	}
	if r.step != nil {
		r.ending = &e
		o.mu.Unlock()
		return
	}
	delete(o.runs, e.RunID)
	o.mu.Unlock()
	finishRun(r.run, e, e.Time)
}

// finishRun records how the run came to rest and ends its span at end.
func finishRun(span trace.Span, e ratchet.Event, end time.Time) {
	span.SetAttributes(AttrStatus.String(string(e.Status)), AttrStep.Int(e.Step))
	setErr(span, e.Status, e.Err)
	span.End(trace.WithTimestamp(end))
}

func (o *Observer) startStep(ctx context.Context, e ratchet.Event) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	r := o.runs[e.RunID]
	if r == nil {
		// A resumed Run, or one stepped again after a failed step ended
		// its span.
		r = o.startRunLocked(ctx, e, true)
	}
	stale := r.step
	attrs := append(identity(e), AttrStep.Int(e.Step))
	_, r.step = o.tracer.Start(trace.ContextWithSpan(ctx, r.run), SpanStep,
		trace.WithTimestamp(e.Time), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	o.mu.Unlock()
	if stale != nil {
		stale.End(trace.WithTimestamp(e.Time))
	}
}

func (o *Observer) finishStep(e ratchet.Event) {
	o.mu.Lock()
	r := o.runs[e.RunID]
	if r == nil || r.step == nil {
		o.mu.Unlock()
		return
	}
	step, ending := r.step, r.ending
	r.step = nil
	if ending == nil && e.Err != nil && !atRest(e.Status) {
		// The step failed without the run coming to rest (its context
		// ended, or the store failed): Run.Wait returns, so the invocation
		// is over. A later Step gets a new run span.
		ending = &e
	}
	if ending != nil {
		delete(o.runs, e.RunID)
	}
	o.mu.Unlock()

	step.SetAttributes(AttrStatus.String(string(e.Status)))
	setErr(step, e.Status, e.Err)
	step.End(trace.WithTimestamp(e.Time))
	if ending != nil {
		end := ending.Time
		if e.Time.After(end) {
			end = e.Time
		}
		finishRun(r.run, *ending, end)
	}
}

// parent returns the span a call of e's run nests under: the open step
// span, else the run span, else none. ok is false after Shutdown.
func (o *Observer) parent(e ratchet.Event) (span trace.Span, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, false
	}
	r := o.runs[e.RunID]
	switch {
	case r == nil:
		return nil, true
	case r.step != nil:
		return r.step, true
	default:
		return r.run, true
	}
}

// startCall starts a span that ran from e.Time-d to e.Time under the
// current step of e's run.
func (o *Observer) startCall(ctx context.Context, e ratchet.Event, name string, kind trace.SpanKind, d time.Duration, attrs []attribute.KeyValue) trace.Span {
	p, ok := o.parent(e)
	if !ok {
		return nil
	}
	if p != nil {
		ctx = trace.ContextWithSpan(ctx, p)
	}
	_, span := o.tracer.Start(ctx, name, trace.WithTimestamp(e.Time.Add(-d)),
		trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return span
}

// callSpan is a call's span as StartCall keeps it in the call's context,
// with what identifies the call: the event that ends it must match.
type callSpan struct {
	span    trace.Span
	kind    ratchet.EventKind
	runID   string
	step    int
	attempt int
	callID  string
}

// spanKey is the context key of a callSpan, one per Observer, so that two
// Observers on one call each end their own span.
type spanKey struct{ o *Observer }

// StartCall starts the chat or execute_tool span of a call about to run,
// under the run's open step span, and returns ctx with that span as the
// current one: spans that the model client (an instrumented HTTP client,
// say) or the tool start from their context nest under it. The call's
// event, which comes back with that context, completes and ends it.
func (o *Observer) StartCall(ctx context.Context, e ratchet.Event) context.Context {
	var span trace.Span
	switch e.Kind {
	case ratchet.EventModelCall:
		span = o.startCall(ctx, e, spanName(OperationChat, e.Model), trace.SpanKindClient, 0, o.modelAttrs(e))
	case ratchet.EventToolCall:
		span = o.startCall(ctx, e, spanName(OperationExecuteTool, e.Tool), trace.SpanKindInternal, 0, toolAttrs(e))
	}
	if span == nil {
		return ctx
	}
	cs := &callSpan{span: span, kind: e.Kind, runID: e.RunID, step: e.Step, attempt: e.Attempt, callID: e.CallID}
	return context.WithValue(trace.ContextWithSpan(ctx, span), spanKey{o}, cs)
}

// startedSpan returns the span StartCall started for e's call, if ctx
// holds it.
func (o *Observer) startedSpan(ctx context.Context, e ratchet.Event) trace.Span {
	cs, ok := ctx.Value(spanKey{o}).(*callSpan)
	if !ok || cs.kind != e.Kind || cs.runID != e.RunID || cs.step != e.Step || cs.attempt != e.Attempt || cs.callID != e.CallID {
		return nil // not this call's (an enclosing run's call, say)
	}
	return cs.span
}

// modelAttrs returns the attributes of a model call known when it starts.
func (o *Observer) modelAttrs(e ratchet.Event) []attribute.KeyValue {
	attrs := append(identity(e),
		AttrOperationName.String(OperationChat),
		AttrStep.Int(e.Step),
		AttrAttempt.Int(e.Attempt),
	)
	if e.Model != "" {
		attrs = append(attrs, AttrRequestModel.String(e.Model))
	}
	if o.opts.ProviderName != "" {
		attrs = append(attrs, AttrProviderName.String(o.opts.ProviderName))
	}
	return attrs
}

// toolAttrs returns the attributes of a tool call known when it starts.
func toolAttrs(e ratchet.Event) []attribute.KeyValue {
	return append(identity(e),
		AttrOperationName.String(OperationExecuteTool),
		AttrToolName.String(e.Tool),
		AttrToolCallID.String(e.CallID),
		AttrToolType.String("function"),
		AttrStep.Int(e.Step),
		AttrAttempt.Int(e.Attempt),
		AttrIdempotencyKey.String(e.Key),
		AttrArgBytes.Int(e.ArgBytes),
	)
}

func (o *Observer) modelCall(ctx context.Context, e ratchet.Event) {
	span := o.startedSpan(ctx, e)
	var attrs []attribute.KeyValue
	if span == nil {
		attrs = o.modelAttrs(e)
	}
	if e.Err == nil {
		if e.Model != "" {
			attrs = append(attrs, AttrResponseModel.String(e.Model))
		}
		attrs = append(attrs,
			AttrInputTokens.Int64(e.Usage.InputTokens),
			AttrOutputTokens.Int64(e.Usage.OutputTokens),
		)
		if e.Usage.CachedInputTokens != 0 {
			attrs = append(attrs, AttrCachedTokens.Int64(e.Usage.CachedInputTokens))
		}
		if e.Usage.ReasoningTokens != 0 {
			attrs = append(attrs, AttrReasonTokens.Int64(e.Usage.ReasoningTokens))
		}
		if e.Finish != "" {
			attrs = append(attrs, AttrFinishReasons.StringSlice([]string{string(e.Finish)}))
		}
	}
	if e.CostUSD != 0 {
		attrs = append(attrs, AttrCostUSD.Float64(e.CostUSD))
	}
	if e.RetryDelay != 0 {
		attrs = append(attrs, AttrRetryDelay.Float64(e.RetryDelay.Seconds()))
	}
	o.endCall(ctx, span, e, spanName(OperationChat, e.Model), trace.SpanKindClient, e.Latency, attrs)
}

func (o *Observer) toolCall(ctx context.Context, e ratchet.Event) {
	span := o.startedSpan(ctx, e)
	var attrs []attribute.KeyValue
	if span == nil {
		attrs = toolAttrs(e)
	}
	attrs = append(attrs, AttrResultBytes.Int(e.ResultBytes))
	o.endCall(ctx, span, e, spanName(OperationExecuteTool, e.Tool), trace.SpanKindInternal, e.Duration, attrs)
}

// endCall ends a call's span: span, started by StartCall, with attrs
// added; or, if span is nil (the call was not given to StartCall), one made
// now with attrs that ran from e.Time-d to e.Time.
func (o *Observer) endCall(ctx context.Context, span trace.Span, e ratchet.Event, name string, kind trace.SpanKind, d time.Duration, attrs []attribute.KeyValue) {
	if span != nil {
		span.SetAttributes(attrs...)
	} else if span = o.startCall(ctx, e, name, kind, d, attrs); span == nil {
		return
	}
	setErr(span, "", e.Err)
	span.End(trace.WithTimestamp(e.Time))
}

// spanEvent adds a span event to the open step span of e's run, else to
// its run span.
func (o *Observer) spanEvent(e ratchet.Event, name string, attrs ...attribute.KeyValue) {
	p, ok := o.parent(e)
	if !ok || p == nil {
		return
	}
	if e.Step != 0 {
		attrs = append(attrs, AttrStep.Int(e.Step))
	}
	p.AddEvent(name, trace.WithTimestamp(e.Time), trace.WithAttributes(attrs...))
}

// atRest reports whether a run in status s has suspended or ended.
func atRest(s ratchet.Status) bool {
	switch s {
	case ratchet.StatusPaused, ratchet.StatusWaiting, ratchet.StatusSleeping:
		return true
	}
	return s.Ended()
}

// setErr marks span as failed by err. A suspension (paused, waiting or
// sleeping) is not a failure: its cause goes in ratchet.reason and the
// status stays unset.
func setErr(span trace.Span, status ratchet.Status, err error) {
	if err == nil {
		return
	}
	switch status {
	case ratchet.StatusPaused, ratchet.StatusWaiting, ratchet.StatusSleeping:
		span.SetAttributes(AttrReason.String(err.Error()))
		return
	}
	span.SetAttributes(AttrErrorType.String(ErrorType(err)))
	span.SetStatus(codes.Error, err.Error())
}

// ErrorType classifies err for the error.type attribute, with the kinds
// Ratchet persists in ErrorInfo.Kind: "model:transient", "tool:panic",
// "budget:steps", "parse:arguments", "interrupt:approval", "cancelled",
// "deadline", or ErrorTypeOther for anything else.
func ErrorType(err error) string {
	var (
		me *ratchet.ModelError
		te *ratchet.ToolError
		pe *ratchet.ParseError
		be *ratchet.BudgetError
		ie *ratchet.InterruptError
		ei *ratchet.ErrorInfo
	)
	switch {
	case errors.As(err, &be):
		return "budget:" + string(be.Budget)
	case errors.As(err, &pe):
		return "parse:" + string(pe.Kind)
	case errors.As(err, &te):
		return "tool:" + string(te.Kind)
	case errors.As(err, &me):
		return "model:" + string(me.Kind)
	case errors.As(err, &ie):
		return "interrupt:" + string(ie.Kind)
	case errors.As(err, &ei) && ei.Kind != "":
		return ei.Kind // a failure read back from the run's log
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return ErrorTypeOther
}
