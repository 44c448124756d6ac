package ratchet

import (
	"context"
	"encoding/json"
)

// Model is a language model that ratchet can drive. Adapters (package
// openai, or a user's own) implement it; ratchettest.Model is a scripted fake.
//
// Generate must be safe for concurrent use: one Model value is shared by
// every run of an Agent. It must not retain or modify req after it returns,
// and it must return soon once ctx ends: the step waits for it (the model
// timeout, the step timeout and a Scheduler's Stop deadline hold only as
// far as Generate honours ctx). Errors should be classified at the boundary into a *ModelError so that the
// retry policy can decide; any other error is treated as transient.
type Model interface {
	Generate(ctx context.Context, req *Request) (*Response, error)
}

// Role is the author of a Message.
type Role string

// The roles a Message can have.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one entry of a conversation, provider-neutral.
//
// An assistant message carries Content and/or ToolCalls (and Refusal when
// the model declined). A tool message carries the result of exactly one call:
// ToolCallID names the call, Name the tool and Content the result text.
type Message struct {
	Role       Role       `json:"role"`
	Content    string     `json:"content,omitempty"`
	Refusal    string     `json:"refusal,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Name       string     `json:"name,omitempty"`
	// IsError marks a tool message whose Content reports a failure (bad
	// arguments, an error returned by the tool, an unknown outcome).
	IsError bool `json:"is_error,omitempty"`
}

// ToolCall is one call of a tool requested by the model.
type ToolCall struct {
	// ID is the provider's call identifier; results refer to it.
	ID string `json:"id"`
	// Name is the name of the tool to call.
	Name string `json:"name"`
	// Arguments is the argument text exactly as the model produced it. It
	// is usually a JSON object, but nothing about it is trusted until the
	// tool has validated it.
	Arguments string `json:"arguments"`
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON schema of the arguments object.
	Parameters json.RawMessage `json:"parameters"`
}

// ToolChoiceMode says whether and which tools the model may call.
type ToolChoiceMode string

// The tool choice modes. The zero value is ToolChoiceAuto.
const (
	ToolChoiceAuto     ToolChoiceMode = ""
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required"
	// ToolChoiceTool forces a call of the tool named in ToolChoice.Name.
	ToolChoiceTool ToolChoiceMode = "tool"
)

// ToolChoice constrains the model's use of tools. The zero value lets the
// model decide.
type ToolChoice struct {
	Mode ToolChoiceMode `json:"mode,omitempty"`
	Name string         `json:"name,omitempty"`
}

// ResponseFormat asks the model for a final answer that is JSON matching
// Schema (OpenAI's json_schema response format).
type ResponseFormat struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	// Strict asks the provider to enforce the schema where it can.
	Strict bool `json:"strict,omitempty"`
}

// Request is what one model call sends. The runtime builds a new Request for
// every call; a Model must not keep it.
type Request struct {
	// Model optionally names the model; adapters fall back to their own
	// configured name when it is empty.
	Model    string     `json:"model,omitempty"`
	Messages []Message  `json:"messages"`
	Tools    []ToolSpec `json:"tools,omitempty"`
	// ToolChoice is the zero value (auto) unless the agent says otherwise.
	ToolChoice ToolChoice `json:"tool_choice,omitzero"`
	// MaxOutputTokens caps the response; 0 means the provider's default.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
	// Temperature is nil for the provider's default.
	Temperature *float64 `json:"temperature,omitempty"`
	// ResponseFormat is set when the agent declares a typed final output.
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
}

// Usage counts the tokens of one model call, or a sum of calls.
type Usage struct {
	InputTokens int64 `json:"input_tokens,omitempty"`
	// CachedInputTokens is the part of InputTokens served from a prompt cache.
	CachedInputTokens int64 `json:"cached_input_tokens,omitempty"`
	OutputTokens      int64 `json:"output_tokens,omitempty"`
	// ReasoningTokens is the part of OutputTokens spent on hidden reasoning.
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
}

// Total returns InputTokens + OutputTokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Add returns the field-wise sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:       u.InputTokens + v.InputTokens,
		CachedInputTokens: u.CachedInputTokens + v.CachedInputTokens,
		OutputTokens:      u.OutputTokens + v.OutputTokens,
		ReasoningTokens:   u.ReasoningTokens + v.ReasoningTokens,
	}
}

// FinishReason says why the model stopped producing output.
type FinishReason string

// The finish reasons adapters map provider values onto.
const (
	FinishStop          FinishReason = "stop"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishLength        FinishReason = "length"
	FinishContentFilter FinishReason = "content_filter"
	FinishOther         FinishReason = "other"
)

// Response is the result of one model call.
type Response struct {
	// Message is the assistant message; its Role is RoleAssistant.
	Message      Message      `json:"message"`
	Usage        Usage        `json:"usage,omitzero"`
	FinishReason FinishReason `json:"finish_reason"`
	// Model is the model name the provider reports, if any.
	Model string `json:"model,omitempty"`
}
