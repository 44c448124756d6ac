package ratchet_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

type weatherArgs struct {
	City  string `json:"city" jsonschema:"description=city name"`
	Units string `json:"units,omitempty" jsonschema:"enum=celsius,enum=fahrenheit"`
	Days  int    `json:"days,omitempty" jsonschema:"minimum=1,maximum=7"`
}

func weatherTool(calls *int) ratchet.Tool {
	return ratchet.NewTool("weather", "Forecast for a city.", func(ctx context.Context, in weatherArgs) (map[string]any, error) {
		*calls++
		return map[string]any{"city": in.City, "temp": 21}, nil
	})
}

func TestToolSpecReflectsSchema(t *testing.T) {
	t.Parallel()
	var n int
	spec := weatherTool(&n).Spec()
	require.Equal(t, "weather", spec.Name)
	var s map[string]any
	require.NoError(t, json.Unmarshal(spec.Parameters, &s))
	require.Equal(t, "object", s["type"])
	require.Equal(t, []any{"city"}, s["required"])
	require.Equal(t, false, s["additionalProperties"])
	props := s["properties"].(map[string]any)
	require.Equal(t, "city name", props["city"].(map[string]any)["description"])
	require.Equal(t, []any{"celsius", "fahrenheit"}, props["units"].(map[string]any)["enum"])
}

// TestToolArgumentValidation: each kind of bad argument is rejected before
// the function runs, with a message a model can act on.
func TestToolArgumentValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, args string
		want       []string
	}{
		{"not JSON", `{"city": "Paris"`, []string{"invalid JSON", "offset 16"}},
		{"missing required", `{"units":"celsius"}`, []string{"missing required", `"city"`}},
		{"wrong type", `{"city": 42}`, []string{"city", "expected string", "42"}},
		{"unknown field", `{"city":"Paris","citty":"x"}`, []string{"unknown field", `"citty"`}},
		{"enum violation", `{"city":"Paris","units":"kelvin"}`, []string{"units", `"kelvin"`, "celsius", "fahrenheit"}},
		{"bound", `{"city":"Paris","days":9}`, []string{"days", "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls int
			tool := weatherTool(&calls)
			_, err := tool.Call(context.Background(), json.RawMessage(tc.args))
			var ae *ratchet.ArgumentError
			require.True(t, errors.As(err, &ae), "%v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Zero(t, calls)

			// Through the loop, the message goes back to the model as the result.
			b := setup(t)
			b.tools = []ratchet.Tool{tool}
			m := ratchettest.NewModel(t, ratchettest.ToolCalls(ratchettest.Call{Name: "weather", Args: tc.args}), ratchettest.Text("sorry"))
			_, err = b.agent(t, m, nil).Run(context.Background(), "weather?", nil)
			require.NoError(t, err)
			res := m.Requests()[1].Messages[3]
			require.True(t, res.IsError)
			for _, w := range tc.want {
				require.Contains(t, res.Content, w)
			}
			require.Zero(t, calls)
		})
	}
}

func TestToolOutputEncoding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	str := ratchet.NewTool("s", "", func(ctx context.Context, in struct{}) (string, error) { return `as "is"`, nil })
	out, err := str.Call(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, `as "is"`, out)
	raw := ratchet.NewTool("r", "", func(ctx context.Context, in struct{}) (json.RawMessage, error) {
		return json.RawMessage(`{"a":1}`), nil
	})
	out, err = raw.Call(ctx, json.RawMessage(" "))
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, out)
	obj := ratchet.NewTool("o", "", func(ctx context.Context, in struct{}) (struct {
		X []int `json:"x"`
	}, error) {
		return struct {
			X []int `json:"x"`
		}{X: []int{1, 2}}, nil
	})
	out, err = obj.Call(ctx, json.RawMessage(`{}`))
	require.NoError(t, err)
	require.Equal(t, `{"x":[1,2]}`, out)
}

type verdict struct {
	Answer     int    `json:"answer"`
	Confidence string `json:"confidence" jsonschema:"enum=low,enum=high"`
}

func TestTypedOutput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := ratchettest.NewModel(t,
		ratchettest.Text(`{"answer": "five"}`),
		ratchettest.Text("```json\n{\"answer\": 5, \"confidence\": \"high\"}\n```"),
	)
	a := b.agent(t, m, func(c *ratchet.Config) { c.Output = ratchet.TypedOutput[verdict]() })
	run, err := a.Start(context.Background(), "2+3?", nil)
	require.NoError(t, err)
	_, err = run.Wait(context.Background())
	require.NoError(t, err)
	v, err := ratchet.DecodeOutput[verdict](run)
	require.NoError(t, err)
	require.Equal(t, verdict{Answer: 5, Confidence: "high"}, v)

	reqs := m.Requests()
	require.NotNil(t, reqs[0].ResponseFormat)
	require.Contains(t, string(reqs[0].ResponseFormat.Schema), `"confidence"`)
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	require.Equal(t, ratchet.RoleUser, last.Role)
	require.Contains(t, last.Content, "does not match the required JSON schema")
	require.Contains(t, last.Content, "answer")
}

func TestDecodeOutputNotCompleted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.agent(t, ratchettest.NewModel(t), func(c *ratchet.Config) { c.Output = ratchet.TypedOutput[verdict]() })
	run, err := a.Start(context.Background(), "x", nil)
	require.NoError(t, err)
	_, err = ratchet.DecodeOutput[verdict](run)
	require.ErrorIs(t, err, ratchet.ErrNotCompleted)
}
