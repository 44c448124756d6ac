package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/ratchet-run/ratchet"
)

var _ ratchet.Model = (*Model)(nil)

// Generate sends req to the chat completions endpoint and returns the
// assistant's reply, streamed or not as configured. It does not retain req.
//
// Every failure is a *ratchet.ModelError: an invalid req (bad_request, code
// CodeInvalidRequest, nothing sent), an HTTP error status or an error the
// server reports inside a response (classified as described in the package
// doc), a network error or broken stream (transient, or timeout), or the
// end of ctx (timeout for a deadline, transient for a cancellation; either
// way errors.Is matches the context's error). A streamed call that fails
// returns no Response, whatever it had received.
//
// The Model's credentials (see Config.APIKey) never appear in what it
// returns: they are replaced by Redacted in every error, wrapped errors
// included, in the Response and in the text given to Config.OnDelta.
func (m *Model) Generate(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	resp, err := m.generate(ctx, req)
	if err != nil {
		return nil, m.redact.err(err)
	}
	m.redact.response(resp)
	return resp, nil
}

// generate is Generate before redaction.
func (m *Model) generate(ctx context.Context, req *ratchet.Request) (*ratchet.Response, error) {
	wire, err := m.buildRequest(req)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, &ratchet.ModelError{Kind: ratchet.ModelBadRequest, Code: CodeInvalidRequest, Message: "encoding request: " + err.Error(), Err: err}
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, m.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &ratchet.ModelError{Kind: ratchet.ModelBadRequest, Code: CodeInvalidRequest, Err: err}
	}
	httpReq.Header = m.header.Clone()
	if m.cfg.Stream {
		httpReq.Header.Set("Accept", "text/event-stream")
	} else {
		httpReq.Header.Set("Accept", "application/json")
	}

	httpResp, err := m.client.Do(httpReq)
	if err != nil {
		return nil, transportError(ctx, err, "")
	}
	defer httpResp.Body.Close()

	if httpResp.StatusCode < 200 || httpResp.StatusCode > 299 {
		// An error body over the limit is cut, not refused: the status
		// says what went wrong, and the part read may say more.
		errBody, err := io.ReadAll(io.LimitReader(httpResp.Body, min(maxErrorBody, m.cfg.MaxResponseBytes)))
		if err != nil && len(errBody) == 0 {
			return nil, transportError(ctx, err, "")
		}
		return nil, httpError(httpResp.StatusCode, httpResp.Header, errBody, time.Now())
	}
	// A server that cannot stream may answer a streamed request with a
	// plain JSON response; read it as one.
	if m.cfg.Stream && !isJSON(httpResp.Header.Get("Content-Type")) {
		return m.readStream(ctx, httpResp.Body, !m.cfg.OmitStreamOptions)
	}
	return m.readResponse(ctx, httpResp.Body, httpResp.ContentLength)
}

// readResponse decodes a non-streamed response body of contentLength bytes
// (-1 if unknown), reading no more than MaxResponseBytes of it.
func (m *Model) readResponse(ctx context.Context, r io.Reader, contentLength int64) (*ratchet.Response, error) {
	data, err := readBody(r, contentLength, m.cfg.MaxResponseBytes)
	if errors.Is(err, errOverLimit) {
		return nil, tooLarge("MaxResponseBytes", m.cfg.MaxResponseBytes)
	}
	if err != nil {
		return nil, transportError(ctx, err, "")
	}
	var resp chatResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, &ratchet.ModelError{
			Kind:    ratchet.ModelTransient,
			Code:    CodeInvalidResponse,
			Message: "response is not a chat completion: " + string(truncate(data, 512)),
			Err:     err,
		}
	}
	if me := inBandError(resp.Error, false); me != nil {
		return nil, me
	}
	if len(resp.Choices) == 0 {
		return nil, &ratchet.ModelError{Kind: ratchet.ModelTransient, Code: CodeInvalidResponse, Message: "response has no choices"}
	}
	var a assembly
	a.model = resp.Model
	a.usage = resp.Usage.usage()
	a.fromChoice(&resp.Choices[0])
	return a.response()
}

// isJSON reports whether a Content-Type is JSON.
func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json"
}
