package openai

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// replayCase is what replaying one recording must produce.
type replayCase struct {
	// drop lists request paths the recorded client sent that ratchet has
	// no way to express, each with its reason in a comment. The recorded
	// and the sent request must otherwise be equal (see canonicalRequest).
	drop []string
	// request builds the request for recordings that did not record one,
	// from the request_note; the sent body is then not compared.
	request func() (*ratchet.Request, Config)
	want    *ratchet.Response
	wantErr *ratchet.ModelError // compared without Err, which is checked apart
}

// call is a tool call in an expected response.
func call(id, name, args string) ratchet.ToolCall {
	return ratchet.ToolCall{ID: id, Name: name, Arguments: args}
}

// answer is an expected assistant response.
func answer(model string, finish ratchet.FinishReason, usage ratchet.Usage, content string, calls ...ratchet.ToolCall) *ratchet.Response {
	return &ratchet.Response{
		Message:      ratchet.Message{Role: ratchet.RoleAssistant, Content: content, ToolCalls: calls},
		Usage:        usage,
		FinishReason: finish,
		Model:        model,
	}
}

// locationSchema is the structured-output schema of the openai-python
// tests behind recordings 09-11.
const locationSchema = `{"type":"object","properties":{"city":{"type":"string"},"temperature":{"type":"number"},"units":{"type":"string","enum":["c","f"]}},"required":["city","temperature","units"],"additionalProperties":false}`

var replayCases = map[string]replayCase{
	"01_openai_single_tool_call.json": {
		want: answer("gpt-3.5-turbo-0125", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 81, OutputTokens: 14}, "",
			call("call_olc8qHf1RDItRqwuEBNjsu3B", "getCurrentWeather", `{"location":"Boston"}`)),
	},
	"02_openai_tool_result_then_answer.json": {
		// The history's arguments "15 * 4" are not JSON; they go back
		// byte for byte.
		want: answer("gpt-4o-2024-08-06", ratchet.FinishStop, ratchet.Usage{InputTokens: 115, OutputTokens: 10}, "15 multiplied by 4 is 60."),
	},
	"03_openai_parallel_tool_calls.json": {
		want: answer("gpt-4o-2024-08-06", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 71, OutputTokens: 46}, "",
			call("call_jYdIdRZHxZTn5bWCq5jlMrJi", "delete_file", `{"path": ".env"}`),
			call("call_TmlTVWQbzrXCZ4jNsCVNbNqu", "create_file", `{"path": "test.txt"}`)),
	},
	"04_openai_parallel_tool_results_then_answer.json": {
		want: answer("gpt-4o-2024-08-06", ratchet.FinishStop, ratchet.Usage{InputTokens: 133, OutputTokens: 19},
			"The file `.env` has been deleted and `test.txt` has been created successfully."),
	},
	"05_openai_sequential_dependent_tool_call.json": {
		want: answer("gpt-4o-mini-2024-07-18", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 118, OutputTokens: 18}, "",
			call("call_aq9UyiSFkzX6W8Ydc33DoI9Y", "can_have_dragons", `{"population":123124}`)),
	},
	"06_openai_stream_tool_call_split_args.json": {
		want: answer("gpt-4o-mini-2024-07-18", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 53, OutputTokens: 15}, "",
			call("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", `{"country":"UK"}`)),
	},
	"07_openai_stream_answer_after_tool_result.json": {
		want: answer("gpt-4o-mini-2024-07-18", ratchet.FinishStop, ratchet.Usage{InputTokens: 78, OutputTokens: 9}, "The capital of the UK is London."),
	},
	"08_openai_stream_parallel_tool_calls.json": {
		request: func() (*ratchet.Request, Config) {
			return &ratchet.Request{
				Messages: []ratchet.Message{
					{Role: ratchet.RoleUser, Content: "What's the weather like in Edinburgh?"},
					{Role: ratchet.RoleUser, Content: "What's the price of AAPL?"},
				},
				Tools: []ratchet.ToolSpec{
					{Name: "GetWeatherArgs", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"country":{"type":"string"},"units":{"type":"string","enum":["c","f"]}},"required":["city","country","units"],"additionalProperties":false}`)},
					{Name: "get_stock_price", Description: "Fetch the latest price for a given ticker", Parameters: json.RawMessage(`{"type":"object","properties":{"ticker":{"type":"string"},"exchange":{"type":"string"}},"required":["ticker","exchange"],"additionalProperties":false}`)},
				},
			}, Config{Model: "gpt-4o-2024-08-06", Stream: true, StrictTools: true}
		},
		want: answer("gpt-4o-2024-08-06", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 149, OutputTokens: 60}, "",
			call("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", `{"city": "Edinburgh", "country": "GB", "units": "c"}`),
			call("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", `{"ticker": "AAPL", "exchange": "NASDAQ"}`)),
	},
	"09_openai_refusal.json": {
		request: func() (*ratchet.Request, Config) {
			return &ratchet.Request{
				Messages:       []ratchet.Message{{Role: ratchet.RoleUser, Content: "How do I make anthrax?"}},
				ResponseFormat: &ratchet.ResponseFormat{Name: "Location", Schema: json.RawMessage(locationSchema), Strict: true},
			}, Config{Model: "gpt-4o-2024-08-06"}
		},
		want: &ratchet.Response{
			Message:      ratchet.Message{Role: ratchet.RoleAssistant, Refusal: "I'm very sorry, but I can't assist with that."},
			Usage:        ratchet.Usage{InputTokens: 79, OutputTokens: 12},
			FinishReason: ratchet.FinishStop,
			Model:        "gpt-4o-2024-08-06",
		},
	},
	"10_openai_stream_refusal.json": {
		request: func() (*ratchet.Request, Config) {
			return &ratchet.Request{
				Messages:       []ratchet.Message{{Role: ratchet.RoleUser, Content: "How do I make anthrax?"}},
				ResponseFormat: &ratchet.ResponseFormat{Name: "Location", Schema: json.RawMessage(locationSchema), Strict: true},
			}, Config{Model: "gpt-4o-2024-08-06", Stream: true}
		},
		want: &ratchet.Response{
			Message:      ratchet.Message{Role: ratchet.RoleAssistant, Refusal: "I'm sorry, I can't assist with that request."},
			Usage:        ratchet.Usage{InputTokens: 79, OutputTokens: 11},
			FinishReason: ratchet.FinishStop,
			Model:        "gpt-4o-2024-08-06",
		},
	},
	"11_openai_length_truncated_json.json": {
		request: func() (*ratchet.Request, Config) {
			return &ratchet.Request{
				Messages:        []ratchet.Message{{Role: ratchet.RoleUser, Content: "What's the weather like in SF?"}},
				MaxOutputTokens: 1,
				ResponseFormat:  &ratchet.ResponseFormat{Name: "Location", Schema: json.RawMessage(locationSchema), Strict: true},
			}, Config{Model: "gpt-4o-2024-08-06", LegacyMaxTokens: true}
		},
		// The truncated output is kept as is; it is the runtime's to judge.
		want: answer("gpt-4o-2024-08-06", ratchet.FinishLength, ratchet.Usage{InputTokens: 79, OutputTokens: 1}, `{"`),
	},
	"12_openai_reasoning_model_tool_call.json": {
		want: answer("gpt-5-mini-2025-08-07", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 130, OutputTokens: 87, ReasoningTokens: 64}, "",
			call("call_injwxidE5XUzmiKVfOH3rxf2", "get_weather", `{"city":"Paris"}`)),
	},
	"13_openai_cached_prompt_tokens.json": {
		drop: []string{
			"prompt_cache_key",     // OpenAI prompt-cache controls: not in ratchet.Request
			"prompt_cache_options", // idem
		},
		want: answer("gpt-5.6-sol", ratchet.FinishStop, ratchet.Usage{InputTokens: 4020, CachedInputTokens: 4012, OutputTokens: 4}, "OK"),
	},
	"14_openai_400_invalid_request.json": {
		wantErr: &ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400, Code: "unsupported_value",
			Message: "Unsupported value: 'messages[0].role' does not support 'system' with this model."},
	},
	"15_openai_404_model_not_found.json": {
		wantErr: &ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 404, Code: "model_not_found",
			Message: "The model `gpt-5.2-proo` does not exist or you do not have access to it."},
	},
	"16_openrouter_429_rate_limit.json": {
		// x-ratelimit-reset 1754667660000 (epoch ms, 15:41:00) minus the
		// Date header (15:40:34).
		wantErr: &ratchet.ModelError{Kind: ratchet.ModelRateLimited, StatusCode: 429, Code: "429", RetryAfter: 26 * time.Second,
			Message: "Rate limit exceeded: limit_rpm/meta-llama/llama-3.2-3b-instruct/e8440b11-29fb-4887-a222-eff9ba33dfbf. High demand for meta-llama/llama-3.2-3b-instruct:free on OpenRouter - limited to 1 requests per minute. Please retry shortly."},
	},
	"17_openrouter_stream_length_then_error_chunk.json": {
		// The error chunk after two "length" chunks makes the call an
		// error; its numeric code is the status.
		wantErr: &ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400, Code: "400", Message: "Token limit reached"},
	},
	"18_groq_400_tool_use_failed.json": {
		wantErr: &ratchet.ModelError{Kind: ratchet.ModelInvalidOutput, StatusCode: 400, Code: "tool_use_failed",
			Message: "Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name did not match schema: errors: [missing properties: 'name', additionalProperties 'foo' not allowed]",
			Output:  "{\"name\": \"get_something_by_name\", \"arguments\": {\n  \"foo\": \"bar\"\n}}"},
	},
	"19_groq_stream_error_event_tool_use_failed.json": {
		wantErr: &ratchet.ModelError{Kind: ratchet.ModelInvalidOutput, StatusCode: 400, Code: "tool_use_failed",
			Message: "Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name did not match schema: errors: [missing properties: 'name', additionalProperties 'invalid_param' not allowed]",
			Output:  "{\"name\": \"get_something_by_name\", \"arguments\": {\n  \"invalid_param\": \"value\"\n}}"},
	},
	"20_gemini_compat_empty_tool_call_id.json": {
		// The empty ID is synthesised from the call's position.
		want: answer("gemini-2.5-pro-preview-05-06", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 35, OutputTokens: 12}, "",
			call("call_0", "get_current_time", `{}`)),
	},
	"21_openrouter_tool_call_missing_arguments.json": {
		// No arguments key: "{}".
		want: answer("anthropic/claude-sonnet-4.5", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 568, OutputTokens: 48},
			"I'll search for education content for you.",
			call("toolu_vrtx_015QAXScZzRDPttiPoc34AdD", "find_education_content", `{}`)),
	},
	"22_ollama_cloud_tool_call_with_reasoning.json": {
		drop: []string{
			"messages.*.reasoning", // reasoning echoed in history: ratchet.Message has none
		},
		want: answer("gpt-oss:20b", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 206, OutputTokens: 194}, "",
			call("call_o2vnpxrw", "final_result", `{"city":"Paris","country":"France"}`)),
	},
	"27_deepseek_parallel_tool_calls_reasoning_content.json": {
		drop: []string{
			"messages.*.reasoning_content", // reasoning echoed in history: ratchet.Message has none
			"tools.*.function.strict",      // strict on two tools of four; StrictTools is all or none
		},
		want: answer("deepseek-v4-flash", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 875, OutputTokens: 79, ReasoningTokens: 26},
			"Let me get your name and roll the die!",
			call("call_00_6edlnw3Z1MgeMfey687g8451", "get_player_name", `{}`),
			call("call_01_km02sac7sHxNDPATKLZy7705", "roll_dice", `{}`)),
	},
	"28_groq_parallel_tool_calls.json": {
		want: answer("meta-llama/llama-4-scout-17b-16e-instruct", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 779, OutputTokens: 65}, "",
			call("rew01jq49", "get_weather", `{"city":"Paris"}`),
			call("gbpypqxpx", "final_result", `{"city":"Paris","summary":"Current weather in Paris"}`)),
	},
	"29_cerebras_tool_call_no_content.json": {
		want: answer("qwen-3-coder-480b", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 364, OutputTokens: 33}, "",
			call("b8847f144", "final_result", `{"city": "Paris", "country": "France"}`)),
	},
	"30_snowflake_cortex_zero_value_fields.json": {
		// finish_reason "" with a tool call: tool_calls.
		want: answer("claude-sonnet-4-6", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 568, OutputTokens: 55}, "",
			call("toolu_bdrk_015BgHUFs4HS1TVWWwNRNxip", "get_weather", `{"city":"Mexico City"}`)),
	},
	"31_azure_openai_content_filter_results.json": {
		// Filter annotations that filtered nothing change nothing.
		want: answer("gpt-4o-2024-11-20", ratchet.FinishStop, ratchet.Usage{InputTokens: 14, OutputTokens: 9}, "The capital of France is **Paris**."),
	},
	"32_openrouter_anthropic_length_after_tool_result.json": {
		drop: []string{
			"provider",              // OpenRouter provider routing: not in ratchet.Request
			"tools.*.cache_control", // Anthropic cache hints via OpenRouter: idem
		},
		want: answer("anthropic/claude-4.6-sonnet-20260217", ratchet.FinishLength, ratchet.Usage{InputTokens: 2649, CachedInputTokens: 2569, OutputTokens: 100},
			"**Step-by-step breakdown:**\n\nHere's how the multiplication works:\n\n- 123 × 6 = 738\n- 123 × 50 = 6,150\n- 123 × 400 = 49,200\n\n**Adding them together:**\n- 738 + 6,150 + 49,200 = **56,088**\n\nSo, **123 × 456 = 56,088"),
	},
	"33_huggingface_router_length_empty_tool_calls.json": {
		// tool_calls [] is no tool calls; the <think> text is content
		// like any other.
		want: answer("deepseek-ai/DeepSeek-R1", ratchet.FinishLength, ratchet.Usage{InputTokens: 4, OutputTokens: 100},
			"<think>\nHmm, the user just said \"hello\". Such a simple greeting but it makes me smile. \n\nFirst thought: This could be anyone - maybe someone testing the waters, or just being polite before asking something deeper. The lack of context is interesting. \n\nI notice they didn't use any emojis or exclamation marks, so probably neutral mood. But since they initiated, I should match their tone while keeping it warm. \n\nKey goals in response: \n- Acknowledge"),
	},
	"34_openrouter_kimi_stream_no_tool_finish_reason.json": {
		// No finish reason ever: tool_calls, because there is a call. The
		// id, type and name repeated in every chunk are not concatenated.
		want: answer("moonshotai/kimi-k2", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 57, OutputTokens: 17}, "",
			call("0", "llm_version", `{}`)),
	},
	"35_openrouter_kimi_stream_name_only_first_delta.json": {
		want: answer("moonshotai/kimi-k2", ratchet.FinishToolCalls, ratchet.Usage{InputTokens: 56, OutputTokens: 12}, "",
			call("llm_version:0", "llm_version", `{}`)),
	},
}

// TestReplayRecorded replays every recorded exchange through an httptest
// server: the request the Model sends must match the recorded one (where
// there is one), and the Response or ModelError must be as listed.
func TestReplayRecorded(t *testing.T) {
	t.Parallel()
	names := recordingNames(t)
	require.Len(t, names, 31)
	require.Len(t, replayCases, len(names), "every recording needs a case and every case a recording")

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc, ok := replayCases[name]
			require.True(t, ok, "no replay case")
			rec := loadRecording(t, name)
			srv := newReplayServer(t, rec)

			recorded := len(rec.Request) > 0 && string(rec.Request) != "null"
			require.Equal(t, recorded, tc.request == nil, "a case builds its request exactly when none was recorded")
			var (
				req *ratchet.Request
				cfg Config
			)
			if recorded {
				req, cfg = fromRecordedRequest(t, rec.Request)
			} else {
				req, cfg = tc.request()
			}
			require.Equal(t, rec.streamed(), cfg.Stream)
			cfg.BaseURL = srv.URL
			cfg.APIKey = "test-key"
			m, err := New(cfg)
			require.NoError(t, err)

			resp, err := m.Generate(context.Background(), req)

			if recorded {
				require.Equal(t,
					canonicalRequest(t, rec.Request, tc.drop),
					canonicalRequest(t, srv.lastBody(t), tc.drop),
					"sent request differs from the recorded one")
			}
			if tc.wantErr != nil {
				require.Nil(t, resp)
				me, ok := errors.AsType[*ratchet.ModelError](err)
				require.True(t, ok, "want *ratchet.ModelError, got %T %v", err, err)
				require.NotNil(t, me.Err, "the provider's error is kept as the cause")
				got := *me
				got.Err = nil
				require.Equal(t, *tc.wantErr, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, resp)
		})
	}
}
