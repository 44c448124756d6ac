package bench

import (
	"context"
	"testing"

	einoopenai "github.com/cloudwego/eino-ext/components/model/openai"
	"github.com/cloudwego/eino/components/model"
	"github.com/cloudwego/eino/components/tool"
	"github.com/cloudwego/eino/components/tool/utils"
	"github.com/cloudwego/eino/compose"
	"github.com/cloudwego/eino/flow/agent/react"
	"github.com/cloudwego/eino/schema"
)

// einoModel is the fake model behind Eino's model.ToolCallingChatModel.
type einoModel struct{ k int }

func (m einoModel) Generate(_ context.Context, input []*schema.Message, _ ...model.Option) (*schema.Message, error) {
	done := 0
	for _, msg := range input {
		if msg.Role == schema.Tool {
			done++
		}
	}
	if WantTool(done, m.k) {
		return schema.AssistantMessage("", []schema.ToolCall{{ID: CallID(done + 1), Type: "function",
			Function: schema.FunctionCall{Name: ToolName, Arguments: Args}}}), nil
	}
	return schema.AssistantMessage(Answer, nil), nil
}

func (m einoModel) Stream(ctx context.Context, input []*schema.Message, opts ...model.Option) (*schema.StreamReader[*schema.Message], error) {
	msg, err := m.Generate(ctx, input, opts...)
	if err != nil {
		return nil, err
	}
	return schema.StreamReaderFromArray([]*schema.Message{msg}), nil
}

func (m einoModel) WithTools([]*schema.ToolInfo) (model.ToolCallingChatModel, error) { return m, nil }

func einoRunner(tb testing.TB, k int, m model.ToolCallingChatModel) func() {
	ctx := context.Background()
	add, err := utils.InferTool(ToolName, ToolDesc, func(_ context.Context, in AddIn) (int, error) {
		return Add(in.A, in.B), nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := react.NewAgent(ctx, &react.AgentConfig{
		ToolCallingModel: m,
		ToolsConfig:      compose.ToolsNodeConfig{Tools: []tool.BaseTool{add}},
		MaxStep:          2*k + 10,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return func() {
		out, err := a.Generate(ctx, []*schema.Message{schema.UserMessage(Prompt)})
		if err != nil || out.Content != Answer {
			tb.Fatalf("eino: %v, %v", out, err)
		}
	}
}

func einoHTTPModel(tb testing.TB, url string) model.ToolCallingChatModel {
	m, err := einoopenai.NewChatModel(context.Background(), &einoopenai.ChatModelConfig{
		BaseURL: url, APIKey: "test", Model: "fake",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
