// Package openai is a ratchet.Model over the OpenAI chat completions API
// and the servers that copy it.
//
//	m, err := openai.New(openai.Config{Model: "gpt-4o-mini", APIKey: key})
//	resp, err := m.Generate(ctx, req)
//
// A Model is safe for concurrent use; one Model serves every run of an
// Agent. No exported name mentions a go-openai type: requests and results
// are ratchet's, and the go-openai types that carry the JSON stay inside.
//
// # Servers
//
// Any server that speaks the chat completions protocol works; set
// Config.BaseURL, Config.APIKey and, where needed, Config.Headers. Tested
// against recordings of OpenAI, Azure OpenAI, OpenRouter, Groq, Gemini's
// compatible endpoint, DeepSeek, Ollama, Cerebras, Snowflake Cortex and the
// Hugging Face router (testdata/recorded/README.md lists them); also meant
// for vLLM, llama.cpp, LM Studio and the like:
//
//	vLLM        BaseURL http://localhost:8000/v1
//	Ollama      BaseURL http://localhost:11434/v1, LegacyMaxTokens
//	llama.cpp   BaseURL http://localhost:8080/v1 (LegacyMaxTokens before 2026 builds)
//	OpenRouter  BaseURL https://openrouter.ai/api/v1
//	Groq        BaseURL https://api.groq.com/openai/v1
//	Gemini      BaseURL https://generativelanguage.googleapis.com/v1beta/openai
//	Azure       BaseURL https://{resource}.openai.azure.com/openai/deployments/{deployment}, Azure
//	            (or the v1 API, https://{resource}.openai.azure.com/openai/v1, without Azure)
//
// # Requests
//
// Messages map one to one (system, user, assistant with its tool calls or
// refusal, tool results by call ID). Tool specs are sent with their
// schemas as given (strict when Config.StrictTools), the tool choice as
// "none", "required" or a named function (auto is the default and is not
// sent), a ResponseFormat as a json_schema response format. Temperature 0
// is sent as 0. The output cap is max_completion_tokens, or max_tokens with
// Config.LegacyMaxTokens. A tool call's arguments go back exactly as the
// model produced them (empty ones as "{}").
//
// # Streaming
//
// With Config.Stream the response arrives as server-sent events; text goes
// to Config.OnDelta as it arrives, and tool-call fragments are joined by
// their index. A streamed call returns the same Response as the same
// completion sent whole (the tests check this for every recording). A
// stream that breaks, stops before it is complete, or reports an error
// (an "event: error" event or a chunk with an "error" member) returns a
// *ratchet.ModelError and no Response.
//
// # Normalisation
//
// Servers differ from OpenAI and from each other. A Response is always
// normalised the same way:
//
//   - Content and refusal: null, "" and absent are all "". Text is kept as
//     sent, including reasoning markup such as <think> (Hugging Face).
//     Reasoning fields (reasoning, reasoning_content) are dropped.
//   - Tool calls: "tool_calls": [] or null means none. A call's arguments
//     are kept byte for byte, even when they are not JSON; missing or empty
//     arguments become "{}" (OpenRouter leaves the key out for a tool whose
//     parameters are all optional). A call whose ID is empty (Gemini) or
//     repeats an earlier call's ID in the same message gets "call_<i>", i
//     its position in the message (with "_<n>" added if a call already has
//     that ID), so results can refer to it; the same response always gets
//     the same IDs.
//   - Streamed tool calls: fragments are joined by index; an ID or name
//     repeated in every fragment (Kimi via OpenRouter) is taken once.
//     Fragments without an index (Gemini) continue the last call unless
//     they carry a new ID or a name.
//   - Finish reason: stop, tool_calls, length and content_filter map to
//     themselves; function_call and tool_use to tool_calls; end_turn,
//     stop_sequence and eos to stop; max_tokens and model_length to length.
//     An empty, null or missing finish reason (Snowflake, streams that never
//     send one) is tool_calls when the message has tool calls and stop
//     otherwise, and so is stop with tool calls (servers that say stop after
//     calling a tool); tool_calls without any call is stop. "error" is a
//     *ratchet.ModelError (transient, CodeGenerationFailed). Any other
//     value is other.
//   - Usage: input and output tokens, cached input tokens (OpenAI's
//     prompt_tokens_details.cached_tokens, DeepSeek's
//     prompt_cache_hit_tokens or a top-level cached_tokens) and reasoning
//     tokens. Vendor extras (cost, timing) are ignored.
//   - Unknown fields anywhere are ignored; only the first choice is read.
//   - Server-sent events: comment lines, leading spaces, CRLF line ends,
//     id and retry fields are accepted; each data line is one chunk. A
//     stream without "data: [DONE]" is complete only if it sent a finish
//     reason and, when usage was asked for, the usage.
//   - A streamed request answered with a plain JSON completion is read as
//     one.
//
// # Limits
//
// Everything a server sends is read through a bound, so that a broken or
// hostile server cannot make a call allocate without end: a non-streamed
// body up to Config.MaxResponseBytes (8 MiB by default; a body whose
// Content-Length is larger is refused before it is read), an error body up
// to 1 MiB, a stream up to Config.MaxStreamBytes in all (64 MiB) and
// Config.MaxStreamLineBytes per line (4 MiB), and the text and tool calls
// a stream adds up to again up to MaxResponseBytes. Reading stops at the
// limit, and what a call allocates stays near it: a 50 MB body costs about
// 8 MiB with the defaults.
//
// # Credentials
//
// A proxy may echo the request's headers in an error body, a server may
// repeat a URL, a key may sit in BaseURL's query string. Wherever a
// Model's credentials appear (Config.APIKey, credential headers and query
// parameters; see Config.APIKey), as is or URL or JSON escaped, they are
// replaced by Redacted before anything leaves Generate: in every
// *ratchet.ModelError and every error it wraps (messages, provider
// fields, body excerpts, the URLs of network errors), in the Response and
// in the text given to OnDelta (which holds back a few bytes while they
// may be the start of a key split across deltas). The headers that carry
// a credential are not sent on a redirect to another origin.
//
// # Errors
//
// Generate returns a *ratchet.ModelError for every failure; its Err is
// go-openai's *openai.APIError for an error body (with HTTPStatusCode set)
// or *openai.RequestError for a body that is not one, so callers that
// know go-openai can still open it with errors.As. Kinds:
//
//   - invalid_output: code tool_use_failed or json_validate_failed, or any
//     error with a failed_generation (Groq); Output holds that text.
//   - context_length: code context_length_exceeded or llama.cpp's
//     exceed_context_size_error, or a 4xx whose message says the prompt is
//     too long in one of the known ways (OpenAI, vLLM, DeepSeek, OpenRouter,
//     llama.cpp, Anthropic, Gemini).
//   - content_filter: code content_filter or content_policy_violation, or
//     Azure's ResponsibleAIPolicyViolation.
//   - auth: 401, 403, 402 and code insufficient_quota (sent with a 429 by
//     OpenAI: waiting does not help).
//   - rate_limited: 429. RetryAfter is taken from retry-after-ms, else
//     Retry-After (seconds or a date), else the longest of
//     x-ratelimit-reset-requests, x-ratelimit-reset-tokens (durations like
//     "6m0s" or "20ms") and x-ratelimit-reset (OpenRouter's epoch
//     milliseconds). Dates are measured from the response's Date header.
//     Retry-After on any other status is honoured too.
//   - timeout: 408, a network timeout, or the context's deadline.
//   - transient: 5xx, 409, network errors, broken streams, bodies that are
//     not a completion, a cancelled context (errors.Is still matches
//     context.Canceled), and errors reported inside a 200 response without
//     a status.
//   - bad_request: every other 4xx (400, 404 model not found, 422), and
//     requests the Model refuses to send (CodeInvalidRequest).
//   - response_too_large: a response over one of the size limits
//     (Config.MaxResponseBytes, MaxStreamBytes, MaxStreamLineBytes; see
//     Limits); Err is a *TooLargeError naming it. Not retried.
//
// An error reported inside a 200 response (an error event or chunk in a
// stream, or OpenRouter's error body) is classified the same way, with
// StatusCode set to the status the error itself reports (status_code, a
// numeric code, or Azure's status), or 0.
package openai
