package openai

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ratchet-run/ratchet"
)

// checkResult is the property every call must satisfy, whatever the
// server sent: a Response or a *ModelError, never both, never neither;
// and a Response that keeps the normalisation promises.
func checkResult(t *testing.T, resp *ratchet.Response, err error) {
	t.Helper()
	if (resp == nil) == (err == nil) {
		t.Fatalf("want exactly one of response and error, got %v and %v", resp, err)
	}
	if err != nil {
		if _, ok := errors.AsType[*ratchet.ModelError](err); !ok {
			t.Fatalf("error is %T, not *ratchet.ModelError: %v", err, err)
		}
		return
	}
	if resp.Message.Role != ratchet.RoleAssistant {
		t.Fatalf("role %q", resp.Message.Role)
	}
	switch resp.FinishReason {
	case ratchet.FinishStop, ratchet.FinishToolCalls, ratchet.FinishLength, ratchet.FinishContentFilter, ratchet.FinishOther:
	default:
		t.Fatalf("finish reason %q", resp.FinishReason)
	}
	seen := map[string]bool{}
	for _, c := range resp.Message.ToolCalls {
		if c.ID == "" || seen[c.ID] {
			t.Fatalf("tool call ID %q empty or repeated in %v", c.ID, resp.Message.ToolCalls)
		}
		seen[c.ID] = true
		if c.Arguments == "" {
			t.Fatalf("empty arguments in %v", c)
		}
	}
}

// FuzzStream feeds arbitrary bytes to the stream reader, seeded with the
// recorded streams.
func FuzzStream(f *testing.F) {
	for _, name := range recordingNames(f) {
		if rec := loadRecording(f, name); rec.streamed() {
			f.Add([]byte(events(rec.Response.SSE...)))
		}
	}
	m, err := New(Config{Model: "m", Stream: true, OnDelta: func(context.Context, string) {}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := m.readStream(context.Background(), bytes.NewReader(body), true)
		checkResult(t, resp, err)
	})
}

// FuzzResponse feeds arbitrary bytes to the completion reader, seeded
// with the recorded bodies.
func FuzzResponse(f *testing.F) {
	for _, name := range recordingNames(f) {
		if rec := loadRecording(f, name); !rec.streamed() {
			f.Add([]byte(rec.Response.Body))
		}
	}
	m, err := New(Config{Model: "m"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := m.readResponse(context.Background(), bytes.NewReader(body), -1)
		checkResult(t, resp, err)
	})
}
