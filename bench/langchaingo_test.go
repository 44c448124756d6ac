package bench

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	lcopenai "github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"
)

// lcModel is the fake model behind langchaingo's llms.Model.
type lcModel struct{ k int }

func (m lcModel) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	done := 0
	for _, msg := range msgs {
		if msg.Role == llms.ChatMessageTypeTool {
			done++
		}
	}
	if WantTool(done, m.k) {
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
			StopReason: "tool_calls",
			ToolCalls: []llms.ToolCall{{ID: CallID(done + 1), Type: "function",
				FunctionCall: &llms.FunctionCall{Name: ToolName, Arguments: Args}}},
		}}}, nil
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: Answer, StopReason: "stop"}}}, nil
}

func (m lcModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// lcAdd is the add tool as a langchaingo tools.Tool: it gets the argument
// text and returns the result text.
type lcAdd struct{}

func (lcAdd) Name() string        { return ToolName }
func (lcAdd) Description() string { return ToolDesc }
func (lcAdd) Call(_ context.Context, input string) (string, error) {
	var in AddIn
	if err := json.Unmarshal([]byte(input), &in); err != nil {
		return "", err
	}
	out, err := json.Marshal(Add(in.A, in.B))
	return string(out), err
}

var _ tools.Tool = lcAdd{}

func lcRunner(tb testing.TB, k int, m llms.Model) func() {
	ctx := context.Background()
	ex := agents.NewExecutor(agents.NewOpenAIFunctionsAgent(m, []tools.Tool{lcAdd{}}), agents.WithMaxIterations(k+1))
	return func() {
		out, err := chains.Run(ctx, ex, Prompt)
		if err != nil || out != Answer {
			tb.Fatalf("langchaingo: %q, %v", out, err)
		}
	}
}

func lcHTTPModel(tb testing.TB, url string) llms.Model {
	m, err := lcopenai.New(lcopenai.WithBaseURL(url), lcopenai.WithToken("test"), lcopenai.WithModel("fake"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
