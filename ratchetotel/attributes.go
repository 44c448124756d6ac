package ratchetotel

import "go.opentelemetry.io/otel/attribute"

// The OpenTelemetry GenAI semantic convention keys this package sets. They
// are defined here rather than imported from a semconv package because the
// GenAI conventions are still at Development status and move between
// semconv versions.
const (
	AttrOperationName  attribute.Key = "gen_ai.operation.name"
	AttrProviderName   attribute.Key = "gen_ai.provider.name"
	AttrRequestModel   attribute.Key = "gen_ai.request.model"
	AttrResponseModel  attribute.Key = "gen_ai.response.model"
	AttrFinishReasons  attribute.Key = "gen_ai.response.finish_reasons"
	AttrInputTokens    attribute.Key = "gen_ai.usage.input_tokens"
	AttrOutputTokens   attribute.Key = "gen_ai.usage.output_tokens"
	AttrToolName       attribute.Key = "gen_ai.tool.name"
	AttrToolCallID     attribute.Key = "gen_ai.tool.call.id"
	AttrToolType       attribute.Key = "gen_ai.tool.type"
	AttrAgentName      attribute.Key = "gen_ai.agent.name"
	AttrConversationID attribute.Key = "gen_ai.conversation.id"
	AttrErrorType      attribute.Key = "error.type"
)

// The values of AttrOperationName.
const (
	OperationInvokeAgent = "invoke_agent" // the run span
	OperationChat        = "chat"         // a model call attempt
	OperationExecuteTool = "execute_tool" // a tool call attempt
)

// ErrorTypeOther is the error.type of an error that matches none of
// Ratchet's typed errors, as the semantic conventions prescribe.
const ErrorTypeOther = "_OTHER"

// The Ratchet-specific keys, under the ratchet.* namespace.
const (
	AttrRunID          attribute.Key = "ratchet.run_id"
	AttrStep           attribute.Key = "ratchet.step"
	AttrStatus         attribute.Key = "ratchet.status"
	AttrResumed        attribute.Key = "ratchet.resumed" // the run span began at a resume
	AttrAttempt        attribute.Key = "ratchet.attempt"
	AttrRetryDelay     attribute.Key = "ratchet.retry_delay" // seconds, as a float
	AttrCostUSD        attribute.Key = "ratchet.cost_usd"
	AttrCachedTokens   attribute.Key = "ratchet.usage.cached_input_tokens"
	AttrReasonTokens   attribute.Key = "ratchet.usage.reasoning_tokens"
	AttrIdempotencyKey attribute.Key = "ratchet.idempotency_key"
	AttrArgBytes       attribute.Key = "ratchet.arg_bytes"
	AttrResultBytes    attribute.Key = "ratchet.result_bytes"
	AttrReason         attribute.Key = "ratchet.reason" // why a run suspended
	AttrSeq            attribute.Key = "ratchet.seq"
	AttrRecords        attribute.Key = "ratchet.records"
	AttrBudget         attribute.Key = "ratchet.budget"
	AttrBudgetLimit    attribute.Key = "ratchet.budget.limit"
	AttrBudgetUsed     attribute.Key = "ratchet.budget.used"
)

// The names of the span events this package adds.
const (
	EventCheckpoint    = "ratchet.checkpoint"     // records were appended to the store
	EventBudgetWarning = "ratchet.budget_warning" // a budget passed 80% of its limit
)

// SpanStep is the name of a step span.
const SpanStep = "ratchet.step"

// ScopeName is the instrumentation scope of the tracer.
const ScopeName = "github.com/ratchet-run/ratchet/ratchetotel"
