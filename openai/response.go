package openai

import (
	"encoding/json"
	"strconv"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ratchet-run/ratchet"
)

// chatResponse is a non-streamed response body: go-openai's type, with
// usage that also reads vendor cache counters (see wireUsage) and the
// top-level error object some servers (OpenRouter) put in a 200 response.
type chatResponse struct {
	goopenai.ChatCompletionResponse
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// chatChunk is one streamed chunk, with the same two additions.
type chatChunk struct {
	goopenai.ChatCompletionStreamResponse
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// wireUsage is go-openai's usage plus where other servers report cached
// prompt tokens.
type wireUsage struct {
	goopenai.Usage
	// PromptCacheHitTokens is DeepSeek's count of cached prompt tokens.
	PromptCacheHitTokens int64 `json:"prompt_cache_hit_tokens"`
	// CachedTokens is Together's (via the Hugging Face router) count.
	CachedTokens int64 `json:"cached_tokens"`
}

// usage maps wire usage onto ratchet's. Cached input tokens come from
// prompt_tokens_details.cached_tokens, else DeepSeek's
// prompt_cache_hit_tokens, else a top-level cached_tokens.
func (u *wireUsage) usage() ratchet.Usage {
	if u == nil {
		return ratchet.Usage{}
	}
	out := ratchet.Usage{
		InputTokens:  int64(u.PromptTokens),
		OutputTokens: int64(u.CompletionTokens),
	}
	if d := u.PromptTokensDetails; d != nil && d.CachedTokens > 0 {
		out.CachedInputTokens = int64(d.CachedTokens)
	} else if u.PromptCacheHitTokens > 0 {
		out.CachedInputTokens = u.PromptCacheHitTokens
	} else {
		out.CachedInputTokens = u.CachedTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = int64(d.ReasoningTokens)
	}
	return out
}

// assembly is a response on its way to a ratchet.Response: what a
// non-streamed body holds, or what a stream has added up to so far. Both
// paths end in (*assembly).response, so they normalise identically.
type assembly struct {
	model   string
	content strings.Builder
	refusal strings.Builder
	calls   []callAssembly
	finish  string
	usage   ratchet.Usage
	bytes   int64 // of text, refusal and tool calls added by addDelta
}

// callAssembly is one tool call being assembled.
type callAssembly struct {
	index int // the wire index; -1 when the server sent none
	id    string
	name  string
	args  strings.Builder
}

// fromMessage fills a from a non-streamed choice.
func (a *assembly) fromChoice(c *goopenai.ChatCompletionChoice) {
	msg := &c.Message
	a.content.WriteString(msg.Content)
	for _, p := range msg.MultiContent { // content sent as an array of parts
		if p.Type == goopenai.ChatMessagePartTypeText || p.Type == "" {
			a.content.WriteString(p.Text)
		}
	}
	a.refusal.WriteString(msg.Refusal)
	a.calls = make([]callAssembly, len(msg.ToolCalls))
	for i, tc := range msg.ToolCalls {
		ca := &a.calls[i]
		ca.index = i
		ca.id = tc.ID
		ca.name = tc.Function.Name
		ca.args.WriteString(tc.Function.Arguments)
	}
	if len(msg.ToolCalls) == 0 && msg.FunctionCall != nil && msg.FunctionCall.Name != "" {
		// The legacy single function call, as some older servers send it.
		a.calls = []callAssembly{{name: msg.FunctionCall.Name}}
		a.calls[0].args.WriteString(msg.FunctionCall.Arguments)
	}
	a.finish = string(c.FinishReason)
}

// addDelta adds one streamed choice delta to a and returns the new answer
// text it carried.
func (a *assembly) addDelta(c *goopenai.ChatCompletionStreamChoice) string {
	d := &c.Delta
	a.bytes += int64(len(d.Content) + len(d.Refusal))
	a.content.WriteString(d.Content)
	a.refusal.WriteString(d.Refusal)
	for i := range d.ToolCalls {
		a.addCallDelta(&d.ToolCalls[i], i)
	}
	if fc := d.FunctionCall; fc != nil && len(d.ToolCalls) == 0 && (fc.Name != "" || fc.Arguments != "") {
		a.addCallDelta(&goopenai.ToolCall{Function: *fc, Index: new(0)}, 0)
	}
	if c.FinishReason != "" && c.FinishReason != goopenai.FinishReasonNull {
		a.finish = string(c.FinishReason)
	}
	return d.Content
}

// addCallDelta adds a tool-call fragment. A fragment with an index belongs
// to the call with that index. Without one (Gemini sends none) it starts a
// new call when it is not the first in its delta, or when it carries an ID
// other than the last call's, or a name while the last call has one;
// otherwise it continues the last call. The ID and name are taken from the
// first fragment that has them; servers that repeat them in every fragment
// (Kimi via OpenRouter) repeat the same values, which are then ignored.
// Arguments are concatenated.
func (a *assembly) addCallDelta(tc *goopenai.ToolCall, pos int) {
	a.bytes += int64(len(tc.ID) + len(tc.Function.Name) + len(tc.Function.Arguments))
	var ca *callAssembly
	if tc.Index != nil {
		for i := range a.calls {
			if a.calls[i].index == *tc.Index {
				ca = &a.calls[i]
				break
			}
		}
		if ca == nil {
			a.calls = append(a.calls, callAssembly{index: *tc.Index})
			ca = &a.calls[len(a.calls)-1]
		}
	} else {
		n := len(a.calls)
		newCall := n == 0 || pos > 0 ||
			(tc.ID != "" && tc.ID != a.calls[n-1].id) ||
			(tc.ID == "" && tc.Function.Name != "" && a.calls[n-1].name != "")
		if newCall {
			a.calls = append(a.calls, callAssembly{index: -1})
			n++
		}
		ca = &a.calls[n-1]
	}
	if ca.id == "" {
		ca.id = tc.ID
	}
	if tc.Function.Name != "" && tc.Function.Name != ca.name {
		ca.name += tc.Function.Name
	}
	ca.args.WriteString(tc.Function.Arguments)
}

// response normalises the assembly into a ratchet.Response, or returns a
// *ModelError when the server reported a failed generation.
//
// Normalisations (documented in the package doc):
//   - content and refusal: absent, null and "" are all "".
//   - a tool call's arguments: kept byte for byte; absent or "" is "{}".
//   - a tool call's ID: kept; empty, or the same as an earlier call's in
//     this message, is replaced by "call_<i>" (i its position), made unique.
//   - finish reason: see mapFinish.
func (a *assembly) response() (*ratchet.Response, error) {
	resp := &ratchet.Response{
		Message: ratchet.Message{
			Role:    ratchet.RoleAssistant,
			Content: a.content.String(),
			Refusal: a.refusal.String(),
		},
		Usage: a.usage,
		Model: a.model,
	}
	if len(a.calls) > 0 {
		calls := make([]ratchet.ToolCall, len(a.calls))
		for i := range a.calls {
			ca := &a.calls[i]
			args := ca.args.String()
			if args == "" {
				args = "{}"
			}
			calls[i] = ratchet.ToolCall{ID: ca.id, Name: ca.name, Arguments: args}
		}
		uniqueCallIDs(calls)
		resp.Message.ToolCalls = calls
	}
	finish, err := mapFinish(a.finish, len(a.calls) > 0)
	if err != nil {
		return nil, err
	}
	resp.FinishReason = finish
	return resp, nil
}

// uniqueCallIDs gives every call an ID that no other call in calls has,
// keeping the IDs the server sent where they are non-empty and unique.
func uniqueCallIDs(calls []ratchet.ToolCall) {
	seen := make(map[string]bool, len(calls))
	var redo []int
	for i := range calls {
		id := calls[i].ID
		if id == "" || seen[id] {
			redo = append(redo, i)
			continue
		}
		seen[id] = true
	}
	for _, i := range redo {
		id := "call_" + strconv.Itoa(i)
		for n := 1; seen[id]; n++ {
			id = "call_" + strconv.Itoa(i) + "_" + strconv.Itoa(n)
		}
		seen[id] = true
		calls[i].ID = id
	}
}

// mapFinish maps the wire finish reason:
//   - stop, and the aliases end_turn, stop_sequence, eos → stop; but a
//     message with tool calls → tool_calls.
//   - tool_calls, function_call, tool_use → tool_calls; but a message
//     without tool calls → stop.
//   - length, max_tokens, model_length → length.
//   - content_filter → content_filter.
//   - empty, null or absent (Snowflake, streams that never send one) →
//     tool_calls when there are tool calls, else stop.
//   - error (a generation that failed on the server) → *ModelError of kind
//     transient.
//   - anything else → other.
func mapFinish(wire string, haveCalls bool) (ratchet.FinishReason, error) {
	switch wire {
	case "", "null", "stop", "end_turn", "stop_sequence", "eos",
		"tool_calls", "function_call", "tool_use":
		if haveCalls {
			return ratchet.FinishToolCalls, nil
		}
		return ratchet.FinishStop, nil
	case "length", "max_tokens", "model_length":
		return ratchet.FinishLength, nil
	case "content_filter":
		return ratchet.FinishContentFilter, nil
	case "error":
		return "", &ratchet.ModelError{
			Kind:    ratchet.ModelTransient,
			Code:    CodeGenerationFailed,
			Message: `the server ended the generation with finish_reason "error"`,
		}
	}
	return ratchet.FinishOther, nil
}
