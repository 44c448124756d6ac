package ratchet

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// buildRequest makes the request for the next model call from the state.
func (r *Run) buildRequest(windDown bool) *Request {
	cfg := &r.a.cfg
	req := &Request{
		Model:           cfg.ModelName,
		Messages:        r.view(),
		ToolChoice:      cfg.ToolChoice,
		MaxOutputTokens: cfg.MaxResponseTokens,
		Temperature:     cfg.Temperature,
	}
	if !windDown {
		req.Tools = r.a.specs
	} else {
		req.ToolChoice = ToolChoice{}
	}
	if o := cfg.Output; o != nil {
		req.ResponseFormat = &ResponseFormat{Name: o.name, Schema: o.schema, Strict: false}
	}
	return req
}

// callModel calls the model for step st.Number under the retry policy,
// recording every failed attempt. Output the server could not parse gets
// repair turns like any unusable output.
func (r *Run) callModel(ctx context.Context, st *Step, windDown bool) (*Response, error) {
	pol := r.a.cfg.Retry
	if err := r.fitHistory(ctx); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		st.Attempts = attempt
		req := r.buildRequest(windDown)
		start := r.a.cfg.Clock.Now()
		callCtx := ctx // the call's, and its event's
		if r.a.callObs != nil {
			callCtx = r.startModelCall(ctx, start, st.Number, attempt)
		}
		resp, err := r.generate(callCtx, req)
		var spent []*Record // a response too large to persist: its spend
		if err == nil {
			if spent, err = r.checkResponse(st.Number, attempt, resp); err == nil {
				if r.a.obs != nil {
					r.observeModelCall(callCtx, st.Number, attempt, start, resp)
				}
				return resp, nil
			}
		}
		if ctx.Err() != nil {
			// The run's context ended: nothing was persisted for this
			// call, and a resume calls the model again.
			if r.a.obs != nil {
				r.observeModelFailure(callCtx, st.Number, attempt, start, 0, context.Cause(ctx))
			}
			return nil, context.Cause(ctx)
		}
		var me *ModelError
		errors.As(err, &me)
		rec := &Record{Kind: RecModelFailed, Step: st.Number, Attempt: attempt, Error: errorInfo(err)}
		switch {
		case me != nil && me.Kind == ModelInvalidOutput:
			rec.Repair = true
			reason := me.Message
			if reason == "" {
				reason = "the server could not parse your output"
			}
			content := "Your last response could not be parsed: " + reason + "."
			if me.Output != "" {
				content += " Your output was: " + me.Output
			}
			content += " Try again, following the tool schemas exactly."
			repair := &Record{Kind: RecRepair, Step: r.state.Step, Message: &Message{Role: RoleUser, Content: content}}
			if aerr := r.appendAttempt(ctx, callCtx, start, err, rec, repair); aerr != nil {
				return nil, aerr
			}
			if r.state.Repairs > max(r.a.cfg.Parse.MaxRepairs, 0) {
				return nil, r.fail(ctx, &ParseError{Kind: ParseServer, Raw: me.Output, Reason: reason, Repairs: r.state.Repairs - 1})
			}
			continue
		case me != nil && me.Kind == ModelContextLength:
			trimmed, terr := r.shrinkHistory(ctx)
			if terr != nil {
				if r.a.obs != nil {
					r.observeModelFailure(callCtx, st.Number, attempt, start, 0, err)
				}
				return nil, terr
			}
			if aerr := r.appendAttempt(ctx, callCtx, start, err, rec); aerr != nil {
				return nil, aerr
			}
			if trimmed {
				continue
			}
			return nil, r.fail(ctx, err)
		}
		delay, retry := pol.next(err, attempt, r.a.cfg.Random)
		if retry {
			rec.Delay = delay
		}
		if aerr := r.appendAttempt(ctx, callCtx, start, err, rec, spent...); aerr != nil {
			return nil, aerr
		}
		if !retry {
			if me != nil && (me.Retryable() || me.Kind == ModelAuth || me.Kind == ModelResponseTooLarge) {
				// Retries ran out on an error that time or an operator can
				// fix: pause, resumable.
				return nil, r.pause(ctx, err)
			}
			return nil, r.fail(ctx, err)
		}
		if err := sleep(ctx, r.a.cfg.Clock, delay); err != nil {
			return nil, err
		}
	}
}

// generate makes one model call attempt under the model timeout and
// classifies its error.
func (r *Run) generate(ctx context.Context, req *Request) (resp *Response, err error) {
	cctx := ctx
	if r.budget.ModelTimeout > 0 { // Unlimited: no model timeout
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, r.budget.ModelTimeout)
		defer cancel()
	}
	resp, err = r.generateDirect(cctx, req)
	if err == nil && resp == nil {
		err = &ModelError{Kind: ModelTransient, Message: "model returned no response and no error"}
	}
	if err == nil {
		return resp, nil
	}
	if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		var me *ModelError
		if !errors.As(err, &me) {
			err = &ModelError{Kind: ModelTimeout, Message: fmt.Sprintf("no response within %s", r.budget.ModelTimeout), Err: err}
		}
	}
	var me *ModelError
	if !errors.As(err, &me) && ctx.Err() == nil {
		err = &ModelError{Kind: ModelTransient, Err: err}
	}
	return nil, err
}

// generateDirect calls the model, recovering a panic. Unlike a tool call it
// runs on the step's goroutine: a Model must return once its context ends
// (the openai adapter does), or it holds the step. (A goroutine per model
// call, to abandon one that does not, measured 12-18% dearer in the
// Scheduler's throughput benchmark and a second stack per waiting run.)
func (r *Run) generateDirect(cctx context.Context, req *Request) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, &ModelError{Kind: ModelTransient, Message: fmt.Sprintf("model panicked: %v", p), Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	return r.a.cfg.Model.Generate(cctx, req)
}

func (r *Run) observeModelCall(ctx context.Context, step, attempt int, start time.Time, resp *Response) {
	r.observe(ctx, Event{Kind: EventModelCall, Step: step, Status: r.state.Status, Model: r.modelName(resp),
		Attempt: attempt, Latency: r.a.cfg.Clock.Now().Sub(start), Usage: resp.Usage,
		CostUSD: r.a.cfg.Pricing.Cost(r.modelName(resp), resp.Usage), Finish: resp.FinishReason})
}

// appendAttempt reports a failed model call attempt (err) to the observer,
// with the call's context, and appends its records.
func (r *Run) appendAttempt(ctx, callCtx context.Context, start time.Time, err error, rec *Record, more ...*Record) error {
	if r.a.obs != nil {
		r.observeModelFailure(callCtx, rec.Step, rec.Attempt, start, rec.Delay, err)
	}
	return r.append(ctx, append([]*Record{rec}, more...)...)
}

// startModelCall is startCall for a model call attempt.
func (r *Run) startModelCall(ctx context.Context, start time.Time, step, attempt int) context.Context {
	return r.startCall(ctx, Event{Kind: EventModelCall, Time: start, Step: step, Status: r.state.Status, Model: r.a.cfg.ModelName, Attempt: attempt})
}

// observeModelFailure reports a model call attempt that failed with err
// (to be retried after delay, if not zero).
func (r *Run) observeModelFailure(ctx context.Context, step, attempt int, start time.Time, delay time.Duration, err error) {
	r.observe(ctx, Event{Kind: EventModelCall, Step: step, Status: r.state.Status, Model: r.a.cfg.ModelName,
		Attempt: attempt, Latency: r.a.cfg.Clock.Now().Sub(start), RetryDelay: delay, Err: err})
}

// modelName is the model a response is priced and reported as.
func (r *Run) modelName(resp *Response) string {
	if resp != nil && resp.Model != "" {
		return resp.Model
	}
	return r.a.cfg.ModelName
}

// checkResponse returns a *ModelError of kind ModelResponseTooLarge when
// resp, the response of attempt for step, would make a model_responded
// record over the store's record limit, with the usage record of its
// spend first (counted in the run's totals and budgets like any call's).
func (r *Run) checkResponse(step, attempt int, resp *Response) ([]*Record, error) {
	lim := r.recordLimit()
	rec := Record{Kind: RecModelResponded, Step: step, Response: resp, Attempt: attempt}
	size := sizeOfResponse(&rec, lim)
	if size <= lim {
		return nil, nil
	}
	return r.responseTooLarge(resp, size, lim)
}

// responseTooLarge returns the error and the spend records of resp, a
// response of size bytes as a record, over the limit lim (0: unknown).
func (r *Run) responseTooLarge(resp *Response, size, lim int) ([]*Record, error) {
	msg := fmt.Sprintf("the response is %d bytes as a record, over the store's record limit", size)
	if lim > 0 {
		msg += fmt.Sprintf(" of %d bytes", lim)
	}
	model := r.modelName(resp)
	use := &Record{Kind: RecUsage, Step: r.state.Step, Response: &Response{Model: resp.Model, Usage: resp.Usage},
		CostUSD: r.a.cfg.Pricing.Cost(model, resp.Usage)}
	return []*Record{use}, &ModelError{Kind: ModelResponseTooLarge, Message: msg + "; its usage is counted, nothing else of it is kept"}
}

// responseNotStored handles the response of step st whose model_responded
// the store refused as too large (tl): the attempt is recorded failed with
// its spend, and the run paused (not retried: the Run had found the
// response within the limit it knew).
func (r *Run) responseNotStored(ctx context.Context, st *Step, resp *Response, tl *RecordTooLargeError) error {
	spent, err := r.responseTooLarge(resp, tl.Size, tl.Limit)
	rec := &Record{Kind: RecModelFailed, Step: st.Number, Attempt: st.Attempts, Error: errorInfo(err)}
	if aerr := r.append(ctx, append([]*Record{rec}, spent...)...); aerr != nil {
		return errors.Join(err, aerr)
	}
	st.Response, st.Usage = nil, resp.Usage
	return r.pause(ctx, err)
}

// stuckTooLarge returns the error of a run paused because the model's
// response was too large to persist (nil for another pause): stepping it
// again would call the model again for the same answer, so it stays
// paused until an operator resumes it (RetryRun, ratchet retry).
func stuckTooLarge(s *State) error {
	if s.Status != StatusPaused || s.Error == nil || s.Error.Kind != "model:"+string(ModelResponseTooLarge) {
		return nil
	}
	const prefix = "ratchet: model " + string(ModelResponseTooLarge) + ": "
	return &ModelError{Kind: ModelResponseTooLarge, Message: strings.TrimPrefix(s.Error.Message, prefix)}
}
