package ratchetotel_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

// TestSpansCarryRedactedText checks that no span, span name, attribute,
// status or span event holds a secret a model and a server put in a tool
// name, a call ID, the model name and an error, when the agent has a
// Redactor.
func TestSpansCarryRedactedText(t *testing.T) {
	t.Parallel()
	const secret = "sk-otel-SECRET-1234"
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Reply{Response: &ratchet.Response{Model: "gpt-" + secret, FinishReason: ratchet.FinishToolCalls,
			Message: ratchet.Message{Role: ratchet.RoleAssistant, ToolCalls: []ratchet.ToolCall{
				{ID: "call-" + secret, Name: "tool-" + secret, Arguments: `{}`},
				{ID: "call-2-" + secret, Name: "add", Arguments: `{"a":1,"b":2}`},
			}}}},
		ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelBadRequest, StatusCode: 400, Message: "proxy echoed " + secret}),
	)
	a := b.agent(t, m, func(c *ratchet.Config) {
		c.Redactor = ratchet.RedactFunc(func(s string) string { return strings.ReplaceAll(s, secret, "[redacted]") })
	})
	_, err := a.Run(context.Background(), "go", nil)
	require.Error(t, err)
	spans := b.exp.GetSpans()
	require.NotEmpty(t, spans)
	redacted := 0
	for _, s := range spans {
		dump := fmt.Sprintf("%s %v %v %v", s.Name, s.Attributes, s.Status, s.Events)
		require.NotContains(t, dump, secret, "span %s", s.Name)
		redacted += strings.Count(dump, "[redacted]")
	}
	require.NotZero(t, redacted, "the spans saw the redacted text")
}
