package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// The HTTP floor: the same loop with net/http and encoding/json speaking
// OpenAI chat completions, with no client library.

type oaFunc struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function oaFunc `json:"function"`
}

type oaMsg struct {
	Role       string   `json:"role"`
	Content    *string  `json:"content"`
	ToolCalls  []oaCall `json:"tool_calls,omitempty"`
	ToolCallID string   `json:"tool_call_id,omitempty"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaReq struct {
	Model    string   `json:"model"`
	Messages []oaMsg  `json:"messages"`
	Tools    []oaTool `json:"tools"`
}

type oaResp struct {
	Choices []struct {
		Message      oaMsg  `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

func floorHTTPRun(c *http.Client, url string) (string, error) {
	var t oaTool
	t.Type = "function"
	t.Function.Name, t.Function.Description = ToolName, ToolDesc
	t.Function.Parameters = json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}`)
	prompt := Prompt
	req := oaReq{Model: "fake", Messages: []oaMsg{{Role: "user", Content: &prompt}}, Tools: []oaTool{t}}
	var buf bytes.Buffer
	for {
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(&req); err != nil {
			return "", err
		}
		hr, err := c.Post(url+"/chat/completions", "application/json", &buf)
		if err != nil {
			return "", err
		}
		var resp oaResp
		err = json.NewDecoder(hr.Body).Decode(&resp)
		hr.Body.Close()
		if err != nil {
			return "", err
		}
		if len(resp.Choices) == 0 {
			return "", fmt.Errorf("no choices")
		}
		m := resp.Choices[0].Message
		req.Messages = append(req.Messages, m)
		if len(m.ToolCalls) == 0 {
			if m.Content == nil {
				return "", fmt.Errorf("empty answer")
			}
			return *m.Content, nil
		}
		for _, call := range m.ToolCalls {
			var in AddIn
			if err := json.Unmarshal([]byte(call.Function.Arguments), &in); err != nil {
				return "", err
			}
			out, err := json.Marshal(Add(in.A, in.B))
			if err != nil {
				return "", err
			}
			s := string(out)
			req.Messages = append(req.Messages, oaMsg{Role: "tool", ToolCallID: call.ID, Content: &s})
		}
	}
}

func floorHTTPRunner(tb testing.TB, k int, url string) func() {
	c := &http.Client{}
	return func() {
		out, err := floorHTTPRun(c, url)
		if err != nil || out != Answer {
			tb.Fatalf("floor http: %q, %v", out, err)
		}
	}
}
