package openai

import (
	"encoding/json"
	"fmt"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ratchet-run/ratchet"
)

// chatRequest is the request body. It is go-openai's request type with two
// fields replaced, because go-openai's cannot say what ratchet needs:
//   - Temperature: go-openai's is a float32 with omitempty, so a
//     temperature of 0 (the usual choice for agents) is never sent.
//   - Messages: go-openai's message type omits an empty content, and OpenAI
//     rejects a tool or user message without one (a tool may well return
//     ""); see chatMessage.
//
// encoding/json lets a field of the outer struct hide the embedded field
// with the same JSON name.
type chatRequest struct {
	goopenai.ChatCompletionRequest
	Messages    []chatMessage `json:"messages"`
	Temperature *float64      `json:"temperature,omitempty"`
}

// chatMessage is one message of the request body.
type chatMessage struct {
	Role string `json:"role"`
	// Content is nil (absent) only for an assistant message that has tool
	// calls or a refusal and no text.
	Content    *string             `json:"content,omitempty"`
	Refusal    string              `json:"refusal,omitempty"`
	Name       string              `json:"name,omitempty"`
	ToolCalls  []goopenai.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string              `json:"tool_call_id,omitempty"`
}

// emptyObjectSchema stands in for a tool without a parameter schema.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// buildRequest maps req onto the wire request. It returns a *ModelError of
// kind bad_request for a request that cannot be sent as it stands.
func (m *Model) buildRequest(req *ratchet.Request) (*chatRequest, error) {
	if req == nil || len(req.Messages) == 0 {
		return nil, invalidRequest("request has no messages")
	}
	out := &chatRequest{}
	out.Model = m.cfg.Model
	if req.Model != "" {
		out.Model = req.Model
	}
	out.Stream = m.cfg.Stream
	if m.cfg.Stream && !m.cfg.OmitStreamOptions {
		out.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	}

	out.Messages = make([]chatMessage, len(req.Messages))
	for i := range req.Messages {
		if err := mapMessage(&out.Messages[i], &req.Messages[i]); err != nil {
			return nil, invalidRequest(fmt.Sprintf("messages[%d]: %s", i, err))
		}
	}

	if len(req.Tools) > 0 {
		out.Tools = make([]goopenai.Tool, len(req.Tools))
		for i, t := range req.Tools {
			if t.Name == "" {
				return nil, invalidRequest(fmt.Sprintf("tools[%d] has no name", i))
			}
			params := t.Parameters
			if len(params) == 0 {
				params = emptyObjectSchema
			}
			out.Tools[i] = goopenai.Tool{
				Type: goopenai.ToolTypeFunction,
				Function: &goopenai.FunctionDefinition{
					Name:        t.Name,
					Description: t.Description,
					Strict:      m.cfg.StrictTools,
					Parameters:  params,
				},
			}
		}
		if m.cfg.ParallelToolCalls != nil {
			out.ParallelToolCalls = *m.cfg.ParallelToolCalls
		}
	}
	choice, err := mapToolChoice(req.ToolChoice, len(req.Tools) > 0)
	if err != nil {
		return nil, err
	}
	out.ToolChoice = choice

	maxTokens := req.MaxOutputTokens
	if maxTokens == 0 {
		maxTokens = m.cfg.MaxOutputTokens
	}
	if maxTokens < 0 {
		return nil, invalidRequest("MaxOutputTokens is negative")
	}
	if m.cfg.LegacyMaxTokens {
		//lint:ignore SA1019 max_tokens is deprecated by OpenAI, but LegacyMaxTokens exists to send it to servers that read only that name.
		out.MaxTokens = maxTokens
	} else {
		out.MaxCompletionTokens = maxTokens
	}
	out.Temperature = req.Temperature
	if out.Temperature == nil {
		out.Temperature = m.cfg.Temperature
	}

	if rf := req.ResponseFormat; rf != nil {
		if rf.Name == "" || len(rf.Schema) == 0 {
			return nil, invalidRequest("response format needs a name and a schema")
		}
		out.ResponseFormat = &goopenai.ChatCompletionResponseFormat{
			Type: goopenai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &goopenai.ChatCompletionResponseFormatJSONSchema{
				Name:   rf.Name,
				Schema: rf.Schema,
				Strict: rf.Strict,
			},
		}
	}
	return out, nil
}

// mapMessage maps one ratchet message onto dst.
func mapMessage(dst *chatMessage, src *ratchet.Message) error {
	content := src.Content
	switch src.Role {
	case ratchet.RoleSystem, ratchet.RoleUser:
		*dst = chatMessage{Role: string(src.Role), Content: &content, Name: src.Name}
	case ratchet.RoleTool:
		if src.ToolCallID == "" {
			return fmt.Errorf("tool message has no ToolCallID")
		}
		// The tool's name is not part of OpenAI's tool message.
		*dst = chatMessage{Role: "tool", Content: &content, ToolCallID: src.ToolCallID}
	case ratchet.RoleAssistant:
		*dst = chatMessage{Role: "assistant", Refusal: src.Refusal, Name: src.Name}
		if content != "" || (len(src.ToolCalls) == 0 && src.Refusal == "") {
			dst.Content = &content
		}
		if len(src.ToolCalls) > 0 {
			dst.ToolCalls = make([]goopenai.ToolCall, len(src.ToolCalls))
			for i, c := range src.ToolCalls {
				args := c.Arguments
				if args == "" {
					args = "{}" // the same normalisation as on the way in
				}
				dst.ToolCalls[i] = goopenai.ToolCall{
					ID:       c.ID,
					Type:     goopenai.ToolTypeFunction,
					Function: goopenai.FunctionCall{Name: c.Name, Arguments: args},
				}
			}
		}
	default:
		return fmt.Errorf("unknown role %q", src.Role)
	}
	return nil
}

// mapToolChoice maps the tool choice. Auto is left out (it is the
// default whenever tools are sent), and so is any choice when there are no
// tools except one that needs a tool, which is an error.
func mapToolChoice(c ratchet.ToolChoice, haveTools bool) (any, error) {
	switch c.Mode {
	case ratchet.ToolChoiceAuto:
		return nil, nil
	case ratchet.ToolChoiceNone:
		if !haveTools {
			return nil, nil
		}
		return "none", nil
	case ratchet.ToolChoiceRequired:
		if !haveTools {
			return nil, invalidRequest("tool choice required but the request has no tools")
		}
		return "required", nil
	case ratchet.ToolChoiceTool:
		if c.Name == "" || !haveTools {
			return nil, invalidRequest("tool choice names no tool, or the request has no tools")
		}
		return goopenai.ToolChoice{Type: goopenai.ToolTypeFunction, Function: goopenai.ToolFunction{Name: c.Name}}, nil
	}
	return nil, invalidRequest(fmt.Sprintf("unknown tool choice mode %q", c.Mode))
}

// invalidRequest is the error for a request that is not sent because it
// cannot be right.
func invalidRequest(msg string) *ratchet.ModelError {
	return &ratchet.ModelError{Kind: ratchet.ModelBadRequest, Code: CodeInvalidRequest, Message: msg}
}
