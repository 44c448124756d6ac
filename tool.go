package ratchet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/ratchet-run/ratchet/internal/schema"
)

// Tool is an action the model can ask for.
//
// Call receives the model's arguments exactly as it produced them and
// returns the result text sent back to the model. Call must be safe for
// concurrent use: calls of one step run in parallel, and an Agent's tools are
// shared by all its runs. An error returned by Call is handled by the tool's
// failure policy (by default it is reported to the model); return an
// *ArgumentError for arguments the tool cannot use.
//
// A Tool may also implement PolicyTool to declare its policies.
type Tool interface {
	Spec() ToolSpec
	Call(ctx context.Context, args json.RawMessage) (string, error)
}

// PolicyTool is implemented by tools that declare policies (idempotency,
// timeout, retries, failure handling). Tools made by NewTool implement it.
type PolicyTool interface {
	Tool
	Policy() ToolPolicy
}

// ToolPolicy is how the runtime treats one tool. The zero value means the
// agent's defaults.
type ToolPolicy struct {
	// Idempotent tools are safe to run again with the same idempotency key:
	// after a crash between tool_started and tool_finished they run again,
	// and a retry policy may retry them.
	Idempotent bool
	// Timeout bounds one call; its context is cancelled when it expires.
	// Zero means the agent's ToolTimeout.
	Timeout time.Duration
	// Retry, when not nil, retries failed calls (only for Idempotent tools).
	Retry *RetryPolicy
	// OnError says what a failed call does to the run. Zero means the
	// agent's ToolErrorAction (by default: report it to the model).
	OnError ToolErrorAction
	// OnUnknownOutcome says what happens to a non-idempotent call found
	// started but not finished when a run resumes. Zero means
	// UnknownOutcomeReport.
	OnUnknownOutcome UnknownOutcomeAction
	// MaxOutputBytes caps the result text; zero means the agent's
	// MaxToolOutputBytes.
	MaxOutputBytes int
	// NeedsApproval asks a person to approve each call before it runs
	// (see Scheduler and Interrupt).
	NeedsApproval bool
}

// ToolOption sets one field of a ToolPolicy, for NewTool.
type ToolOption func(*ToolPolicy)

// Idempotent marks a tool as safe to run again with the same idempotency key.
func Idempotent() ToolOption { return func(p *ToolPolicy) { p.Idempotent = true } }

// WithTimeout sets the tool's per-call timeout.
func WithTimeout(d time.Duration) ToolOption { return func(p *ToolPolicy) { p.Timeout = d } }

// WithRetry sets the tool's retry policy (it also marks the tool idempotent:
// a retry runs it again).
func WithRetry(r RetryPolicy) ToolOption {
	return func(p *ToolPolicy) { p.Retry = &r; p.Idempotent = true }
}

// WithOnError sets what a failed call of the tool does to the run.
func WithOnError(a ToolErrorAction) ToolOption { return func(p *ToolPolicy) { p.OnError = a } }

// WithOnUnknownOutcome sets what a resume does with a call of the tool whose
// outcome is unknown.
func WithOnUnknownOutcome(a UnknownOutcomeAction) ToolOption {
	return func(p *ToolPolicy) { p.OnUnknownOutcome = a }
}

// WithMaxOutputBytes caps the tool's result text.
func WithMaxOutputBytes(n int) ToolOption { return func(p *ToolPolicy) { p.MaxOutputBytes = n } }

// NeedsApproval makes every call of the tool wait for a person's approval.
func NeedsApproval() ToolOption { return func(p *ToolPolicy) { p.NeedsApproval = true } }

// ArgumentError reports tool arguments that are not JSON or do not fit the
// tool's parameter schema. Its message is written for the model: the field
// path, what was expected and what came.
type ArgumentError struct {
	Tool string
	// Reason is the precise validation failure.
	Reason string
	Err    error
}

// Error returns "ratchet: invalid arguments for tool NAME: REASON".
func (e *ArgumentError) Error() string {
	return "ratchet: invalid arguments for tool " + strconv.Quote(e.Tool) + ": " + e.Reason
}

// Unwrap returns the underlying decode or validation error.
func (e *ArgumentError) Unwrap() error { return e.Err }

// NewTool makes a Tool from a typed Go function. The parameter schema is
// reflected from In (a struct) with invopop/jsonschema: json tags name the
// fields; a field without omitempty is required; jsonschema tags add
// descriptions, enums and bounds (`jsonschema:"description=...,enum=a,enum=b"`).
//
// Before fn runs, the model's arguments are validated against that schema;
// text that is not JSON, missing required fields, wrong types, unknown
// fields and enum violations return an *ArgumentError, which the runtime
// reports to the model. Empty arguments are read as {}. fn's output is
// encoded as JSON, except that a string (or json.RawMessage) is sent as it is.
//
// Problems with In (not a struct) and with name are reported by NewAgent.
func NewTool[In, Out any](name, description string, fn func(context.Context, In) (Out, error), opts ...ToolOption) Tool {
	t := &funcTool[In, Out]{fn: fn}
	t.spec.Name = name
	t.spec.Description = description
	for _, o := range opts {
		o(&t.policy)
	}
	raw, err := schema.For[In]()
	if err != nil {
		t.err = fmt.Errorf("tool %q: parameters: %w", name, err)
		return t
	}
	t.spec.Parameters = raw
	t.validator, t.err = schema.Compile(raw)
	if fn == nil {
		t.err = fmt.Errorf("tool %q: nil function", name)
	}
	var out Out
	switch any(out).(type) {
	case string:
		t.outKind = outString
	case json.RawMessage:
		t.outKind = outRaw
	}
	return t
}

type outKind uint8

const (
	outJSON outKind = iota
	outString
	outRaw
)

type funcTool[In, Out any] struct {
	spec      ToolSpec
	policy    ToolPolicy
	fn        func(context.Context, In) (Out, error)
	validator *schema.Validator
	outKind   outKind
	err       error
}

func (t *funcTool[In, Out]) Spec() ToolSpec     { return t.spec }
func (t *funcTool[In, Out]) Policy() ToolPolicy { return t.policy }
func (t *funcTool[In, Out]) buildErr() error    { return t.err }

// Call validates args and calls the function.
func (t *funcTool[In, Out]) Call(ctx context.Context, args json.RawMessage) (string, error) {
	if err := t.validateArgs(args); err != nil {
		return "", err
	}
	out, _, err := t.callValidated(ctx, args, 0)
	return out, err
}

func (t *funcTool[In, Out]) validateArgs(args json.RawMessage) error {
	if t.err != nil {
		return t.err
	}
	if isBlank(args) {
		args = emptyObject
	}
	if err := t.validator.Validate(args); err != nil {
		return &ArgumentError{Tool: t.spec.Name, Reason: err.Error(), Err: err}
	}
	return nil
}

func (t *funcTool[In, Out]) callValidated(ctx context.Context, args json.RawMessage, limit int) (string, int, error) {
	if isBlank(args) {
		args = emptyObject
	}
	var in In
	if err := json.Unmarshal(args, &in); err != nil {
		return "", 0, &ArgumentError{Tool: t.spec.Name, Reason: err.Error(), Err: err}
	}
	out, err := t.fn(ctx, in)
	if err != nil {
		return "", 0, err
	}
	switch t.outKind {
	case outString:
		s, orig := fitOutput(any(out).(string), limit)
		return s, orig, nil
	case outRaw:
		raw := any(out).(json.RawMessage)
		if limit > 0 && len(raw) > limit {
			return cutOutput(raw[:limit+1], len(raw), limit), len(raw), nil // one copy, of what is kept
		}
		return string(raw), 0, nil
	}
	// encoding/json encodes the whole value before it writes: what is
	// kept is bounded, the encoding itself is not.
	w := &cappedBuffer{max: limit}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return "", 0, fmt.Errorf("encoding result of %s: %w", t.spec.Name, err)
	}
	return w.result()
}

// cappedBuffer keeps the first max+1 bytes written to it (all when max is
// not positive) and counts them all.
type cappedBuffer struct {
	max int
	buf []byte
	n   int
}

func (w *cappedBuffer) Write(p []byte) (int, error) {
	w.n += len(p)
	keep := len(p)
	if w.max > 0 {
		keep = min(keep, max(w.max+1-len(w.buf), 0))
	}
	w.buf = append(w.buf, p[:keep]...)
	return len(p), nil
}

// result returns what was written, without the encoder's final newline,
// cut to max bytes with its marker when longer, and the size it was cut
// from (0 when it was not).
func (w *cappedBuffer) result() (string, int, error) {
	total := w.n - 1 // the newline
	if w.max <= 0 || total <= w.max {
		return string(bytes.TrimSuffix(w.buf, []byte("\n"))), 0, nil
	}
	return cutOutput(w.buf, total, w.max), total, nil
}

var emptyObject = json.RawMessage("{}")

func jsonValid(s string) bool { return json.Valid([]byte(s)) }

// isBlank reports whether b is empty or only JSON whitespace.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// toolPolicy returns t's policy, or the zero policy.
func toolPolicy(t Tool) ToolPolicy {
	if p, ok := t.(PolicyTool); ok {
		return p.Policy()
	}
	return ToolPolicy{}
}

// validToolName reports whether name is 1-64 of [a-zA-Z0-9_-].
func validToolName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkTools validates a tool list when an agent is built.
func checkTools(tools []Tool) (map[string]int, error) {
	index := make(map[string]int, len(tools))
	var errs []error
	for i, t := range tools {
		if t == nil || (reflect.ValueOf(t).Kind() == reflect.Pointer && reflect.ValueOf(t).IsNil()) {
			errs = append(errs, fmt.Errorf("tool %d is nil", i))
			continue
		}
		if b, ok := t.(interface{ buildErr() error }); ok && b.buildErr() != nil {
			errs = append(errs, b.buildErr())
			continue
		}
		name := t.Spec().Name
		if !validToolName(name) {
			errs = append(errs, fmt.Errorf("tool %d: name %q must be 1-64 characters of [a-zA-Z0-9_-]", i, name))
			continue
		}
		if j, dup := index[name]; dup {
			errs = append(errs, fmt.Errorf("tools %d and %d are both named %q", j, i, name))
			continue
		}
		index[name] = i
		p := toolPolicy(t)
		if !p.OnError.valid() {
			errs = append(errs, fmt.Errorf("tool %q: unknown OnError action %q", name, p.OnError))
		} else if p.OnError == ToolErrorRetry && !p.Idempotent {
			errs = append(errs, fmt.Errorf("tool %q: OnError %q runs the call again: the tool must be idempotent (Idempotent(), or WithRetry)", name, p.OnError))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return index, nil
}

// TruncationMarker starts the note appended to a tool result cut at its
// size limit.
const TruncationMarker = "\n[ratchet: output truncated"

// truncateOutput caps s at max bytes (on a UTF-8 boundary) and appends a
// marker saying how much was cut. max <= 0 means no cap.
func truncateOutput(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	return cutOutput(s, len(s), max)
}

// cutOutput returns the first max bytes of prefix (which holds more than
// max bytes of a result of total bytes), cut back to a UTF-8 boundary,
// with the truncation marker.
func cutOutput[S ~string | ~[]byte](prefix S, total, max int) string {
	cut := max
	for cut > 0 && !utf8.RuneStart(prefix[cut]) {
		cut--
	}
	return string(prefix[:cut]) + truncateNote(cut, total)
}

// idempotencyKeyType is the context key for IdempotencyKey.
type idempotencyKeyType struct{}

// WithIdempotencyKey returns a context carrying key, as the runtime gives
// each tool call. Tests of tools use it (see also ratchettest).
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyType{}, key)
}

// IdempotencyKey returns the idempotency key of the tool call ctx belongs
// to: "RUN/STEP/CALL" (run ID, step number, call index), stable across
// retries and resumes. Pass it to external systems to make calls
// idempotent. It returns "" outside a tool call.
func IdempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKeyType{}).(string)
	return k
}

// stringBytes returns the bytes of s without a copy, for code of this
// package that only reads them (the validators, json.Unmarshal).
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func idempotencyKey(runID string, step, call int) string {
	return runID + "/" + strconv.Itoa(step) + "/" + strconv.Itoa(call)
}

// ToolErrorAction says what a failed tool call does to its run.
type ToolErrorAction string

// The tool error actions.
const (
	// ToolErrorReport sends the error to the model as the call's result
	// (the default).
	ToolErrorReport ToolErrorAction = "report"
	// ToolErrorRetry retries the call with the tool's (or the agent's
	// ToolRetry) policy, then reports the last error. Only idempotent
	// tools are retried: NewAgent rejects a tool that asks for it without
	// being idempotent, and as Config.OnToolError it applies to the
	// idempotent tools only (the others report).
	ToolErrorRetry ToolErrorAction = "retry"
	// ToolErrorFail fails the run and cancels the step's other calls.
	ToolErrorFail ToolErrorAction = "fail"
	// ToolErrorPause pauses the run; the call runs again when it resumes.
	ToolErrorPause ToolErrorAction = "pause"
)

// valid reports whether a is one of the actions above, or empty (the
// default).
func (a ToolErrorAction) valid() bool {
	switch a {
	case "", ToolErrorReport, ToolErrorRetry, ToolErrorFail, ToolErrorPause:
		return true
	}
	return false
}

// UnknownOutcomeAction says what a resume does with a non-idempotent call
// that was started but never finished (the process stopped while it ran).
type UnknownOutcomeAction string

// The unknown-outcome actions.
const (
	// UnknownOutcomeReport tells the model the outcome is unknown (the
	// default).
	UnknownOutcomeReport UnknownOutcomeAction = "report"
	// UnknownOutcomeRerun runs the call again with the same idempotency key.
	UnknownOutcomeRerun UnknownOutcomeAction = "rerun"
	// UnknownOutcomeFail fails the run.
	UnknownOutcomeFail UnknownOutcomeAction = "fail"
)
