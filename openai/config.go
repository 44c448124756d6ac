package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// BaseURLDefault is the API root used when Config.BaseURL is empty.
const BaseURLDefault = "https://api.openai.com/v1"

// AzureAPIVersionDefault is the api-version query parameter sent to Azure
// OpenAI when Config.Azure is set and Config.APIVersion is empty.
const AzureAPIVersionDefault = "2024-10-21"

// The default size limits of a Model's responses (see Config).
const (
	// MaxResponseBytesDefault is Config.MaxResponseBytes when it is 0: 8 MiB.
	MaxResponseBytesDefault int64 = 8 << 20
	// MaxStreamBytesDefault is Config.MaxStreamBytes when it is 0: 64 MiB.
	MaxStreamBytesDefault int64 = 64 << 20
	// MaxStreamLineBytesDefault is Config.MaxStreamLineBytes when it is 0:
	// 4 MiB.
	MaxStreamLineBytesDefault = 4 << 20
)

// ErrInvalidConfig is returned (wrapped, with the reason) by New when the
// Config cannot work: no Model, or a BaseURL that is not an absolute http(s)
// URL.
var ErrInvalidConfig = errors.New("openai: invalid config")

// Config configures a Model. The zero value of every field but Model is
// usable and means the documented default; New copies the Config, so
// changing it afterwards has no effect on the Model.
type Config struct {
	// Model names the model, for example "gpt-4o-mini", or the deployment
	// name for Azure. Required. A Request's own Model, when set, overrides
	// it for that call.
	Model string

	// APIKey is sent as "Authorization: Bearer <APIKey>" (as "api-key:
	// <APIKey>" when Azure is set). Defaults to empty: no credentials are
	// sent, which suits local servers (vLLM, Ollama, llama.cpp).
	//
	// The Model treats APIKey as a secret, and so the values of headers
	// whose names mention a key, token, secret, auth, password, signature,
	// cookie, credential or session (Authorization, Api-Key, a gateway's
	// X-Api-Key in Headers), the values of query parameters so named in
	// BaseURL (?key=...), and BaseURL's password: each is replaced by
	// Redacted wherever it appears (as is, URL or JSON escaped) in the
	// errors, responses and deltas the Model returns, whatever the server
	// echoes, and the headers carrying one are not sent on a redirect to
	// another scheme, host or port.
	APIKey string

	// BaseURL is the API root; "/chat/completions" is appended to it.
	// Defaults to https://api.openai.com/v1 (BaseURLDefault). Examples:
	// http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama),
	// http://localhost:8080/v1 (llama.cpp), https://openrouter.ai/api/v1,
	// https://api.groq.com/openai/v1,
	// https://generativelanguage.googleapis.com/v1beta/openai, and for
	// Azure https://{resource}.openai.azure.com/openai/deployments/{name}.
	// A query string in BaseURL is kept.
	BaseURL string

	// Organization is sent as the OpenAI-Organization header. Defaults to
	// empty: no header.
	Organization string

	// Headers are added to every request, after the headers the Model sets
	// itself, so they can override them (for example OpenRouter's
	// HTTP-Referer and X-Title, or a gateway's own auth header). Defaults
	// to none.
	Headers http.Header

	// HTTPClient sends the requests. Its Timeout, if any, bounds a whole
	// call including a stream; prefer a context deadline. Defaults to a
	// private &http.Client{} (which uses http.DefaultTransport).
	HTTPClient *http.Client

	// Stream asks for the response as server-sent events and assembles it;
	// the Response is the same as without streaming. Defaults to false.
	Stream bool

	// OnDelta, if set, is called with each piece of answer text as it
	// arrives when Stream is set (never without Stream, and never for
	// refusal text, reasoning or tool-call arguments). It runs on the
	// goroutine that called Generate, before Generate returns, and must
	// not block for long. ctx is the context passed to Generate, so an
	// application serving many runs can tell them apart by its values.
	// Deltas are provisional: if the call then fails, Generate returns an
	// error and the runtime may call the model again, whose deltas start
	// over. Defaults to nil: no callback.
	OnDelta func(ctx context.Context, text string)

	// MaxOutputTokens caps the response when a Request leaves its own
	// MaxOutputTokens at 0. Defaults to 0: the provider's default.
	MaxOutputTokens int

	// Temperature is used when a Request leaves its own Temperature nil.
	// Defaults to nil: the provider's default.
	Temperature *float64

	// ParallelToolCalls, when non-nil, is sent as parallel_tool_calls on
	// requests that carry tools (false asks for at most one call per
	// response). Defaults to nil: not sent, the provider decides (OpenAI
	// allows parallel calls).
	ParallelToolCalls *bool

	// StrictTools marks every tool definition "strict": true, so OpenAI
	// enforces the schema exactly. Strict mode requires schemas with
	// "additionalProperties": false and every property required. Defaults
	// to false.
	StrictTools bool

	// LegacyMaxTokens sends the output cap as max_tokens instead of
	// max_completion_tokens. OpenAI's reasoning models accept only
	// max_completion_tokens; set this for servers that only read the older
	// name and silently ignore the newer one (Ollama, llama.cpp before
	// 2026, llamafile, llama-cpp-python). Defaults to false:
	// max_completion_tokens.
	LegacyMaxTokens bool

	// OmitStreamOptions leaves out stream_options {"include_usage": true},
	// which is otherwise sent with every streamed request so that the
	// stream reports usage. Set it for servers that reject the field.
	// Defaults to false: the option is sent.
	OmitStreamOptions bool

	// Azure selects Azure OpenAI's conventions: the key goes in the api-key
	// header and the api-version query parameter is added. BaseURL must be
	// the deployment URL (see BaseURL). Azure's newer v1 API
	// (https://{resource}.openai.azure.com/openai/v1) needs neither: use it
	// without Azure, like any compatible server. Defaults to false.
	Azure bool

	// APIVersion is sent as the api-version query parameter when non-empty.
	// Defaults to empty, or to AzureAPIVersionDefault when Azure is set.
	APIVersion string

	// MaxResponseBytes bounds what a response may hold: the body of a
	// non-streamed response, and for a streamed one the text, refusal and
	// tool calls (IDs, names, arguments) its chunks add up to. A response
	// over the limit is a *ratchet.ModelError of kind response_too_large
	// (not retried) whose Err is a *TooLargeError, and nothing past the
	// limit is read or kept. The body of an error response (an HTTP error
	// status) is read up to 1 MiB or MaxResponseBytes, whichever is less,
	// and classified from its status and what was read. Defaults to 8 MiB
	// (MaxResponseBytesDefault).
	MaxResponseBytes int64

	// MaxStreamBytes bounds everything a streamed response sends,
	// framing, usage, comments and keep-alives included; a stream over it
	// is a response_too_large error like one over MaxResponseBytes.
	// Defaults to 64 MiB (MaxStreamBytesDefault).
	MaxStreamBytes int64

	// MaxStreamLineBytes bounds one line of a streamed response (one chunk
	// or event field); a longer line is a response_too_large error.
	// Defaults to 4 MiB (MaxStreamLineBytesDefault).
	MaxStreamLineBytes int
}

// Model is a ratchet.Model over an OpenAI-compatible chat completions
// endpoint. It is safe for concurrent use: it holds only its configuration,
// and every call builds its own request and reads its own response.
type Model struct {
	cfg      Config
	endpoint string
	header   http.Header
	client   *http.Client
	redact   redactor
}

// New returns a Model for cfg. It returns an error wrapping
// ErrInvalidConfig when cfg.Model is empty, cfg.BaseURL is not an absolute
// http or https URL, or a size limit is negative. New does no I/O.
func New(cfg Config) (*Model, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, fmt.Errorf("%w: Model is required", ErrInvalidConfig)
	}
	if cfg.MaxResponseBytes < 0 || cfg.MaxStreamBytes < 0 || cfg.MaxStreamLineBytes < 0 {
		return nil, fmt.Errorf("%w: MaxResponseBytes, MaxStreamBytes and MaxStreamLineBytes must not be negative", ErrInvalidConfig)
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = MaxResponseBytesDefault
	}
	if cfg.MaxStreamBytes == 0 {
		cfg.MaxStreamBytes = MaxStreamBytesDefault
	}
	if cfg.MaxStreamLineBytes == 0 {
		cfg.MaxStreamLineBytes = MaxStreamLineBytesDefault
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = BaseURLDefault
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Azure && cfg.APIVersion == "" {
		cfg.APIVersion = AzureAPIVersionDefault
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		// Not quoted: the URL may hold a credential that cannot be told
		// apart from the rest of it.
		return nil, fmt.Errorf("%w: BaseURL is not a URL", ErrInvalidConfig)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r := newRedactor(cfg.APIKey, nil, u)
		return nil, fmt.Errorf("%w: BaseURL %q is not an absolute http(s) URL", ErrInvalidConfig, r.str(u.Redacted()))
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/chat/completions"
	u.RawPath = ""
	if cfg.APIVersion != "" {
		q := u.Query()
		q.Set("api-version", cfg.APIVersion)
		u.RawQuery = q.Encode()
	}

	h := make(http.Header)
	h.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		if cfg.Azure {
			h.Set("Api-Key", cfg.APIKey)
		} else {
			h.Set("Authorization", "Bearer "+cfg.APIKey)
		}
	}
	if cfg.Organization != "" {
		h.Set("OpenAI-Organization", cfg.Organization)
	}
	for k, vs := range cfg.Headers {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	cfg.Headers = nil // folded into h; do not keep the caller's map
	if cfg.Temperature != nil {
		t := *cfg.Temperature
		cfg.Temperature = &t
	}
	if cfg.ParallelToolCalls != nil {
		p := *cfg.ParallelToolCalls
		cfg.ParallelToolCalls = &p
	}
	m := &Model{cfg: cfg, endpoint: u.String(), header: h, client: cfg.HTTPClient}
	m.redact = newRedactor(cfg.APIKey, h, u)
	if len(m.redact.headers) > 0 {
		// A copy, so as not to change the caller's client.
		c := *cfg.HTTPClient
		c.CheckRedirect = m.redact.stripOnRedirect(u, cfg.HTTPClient.CheckRedirect)
		m.client = &c
	}
	return m, nil
}
