// Package bench compares Ratchet with the Go agent frameworks on one
// workload: one tool, add(a, b int) int, and a model that asks for it K-1
// times and answers on call K. See BENCHMARKS.md at the repository root.
package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
)

// Ks are the numbers of model calls per run.
var Ks = []int{1, 10, 100}

// AddIn is the argument object of the add tool.
type AddIn struct {
	A int `json:"a"`
	B int `json:"b"`
}

// Add is the tool's function.
func Add(a, b int) int { return a + b }

const (
	// ToolName and ToolDesc describe the tool to every framework.
	ToolName = "add"
	ToolDesc = "Add two integers."
	// Args is what the fake model passes to the tool.
	Args = `{"a":2,"b":3}`
	// Answer is the fake model's final answer.
	Answer = "The sum is 5."
	// Prompt is the user's input.
	Prompt = "Add 2 and 3, K times."
)

// WantTool reports whether the fake model, having seen done tool results,
// asks for the tool again (true) or answers (false): it asks K-1 times.
func WantTool(done, k int) bool { return done < k-1 }

// CallID names the fake model's n-th tool call.
func CallID(n int) string { return "call_" + strconv.Itoa(n) }

// Server is an httptest server speaking the OpenAI chat-completions format
// with the fake model's behaviour. It counts "role":"tool" messages in the
// request to decide, so it is stateless across runs.
type Server struct {
	*httptest.Server
	K     int
	Calls atomic.Int64
}

var roleTool = []byte(`"role":"tool"`)

// NewServer starts a Server for k calls per run.
func NewServer(k int) *Server {
	s := &Server{K: k}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.Calls.Add(1)
	done := bytes.Count(body, roleTool)
	b := make([]byte, 0, 512)
	b = append(b, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"fake","choices":[{"index":0,"message":{"role":"assistant",`...)
	if WantTool(done, s.K) {
		b = append(b, `"content":null,"tool_calls":[{"id":"`...)
		b = append(b, CallID(done+1)...)
		b = append(b, `","type":"function","function":{"name":"add","arguments":"{\"a\":2,\"b\":3}"}}]},"finish_reason":"tool_calls"}]`...)
	} else {
		b = append(b, `"content":"`+Answer+`"},"finish_reason":"stop"}]`...)
	}
	b = append(b, `,"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
