package bench

import (
	"context"
	"testing"

	"github.com/firebase/genkit/go/ai"
	"github.com/firebase/genkit/go/genkit"
	gkopenai "github.com/firebase/genkit/go/plugins/compat_oai/openai"
	"github.com/openai/openai-go/option"
)

// genkitModelFunc is the fake model behind genkit.DefineModel.
func genkitModelFunc(k int) ai.ModelFunc {
	return func(_ context.Context, req *ai.ModelRequest, _ ai.ModelStreamCallback) (*ai.ModelResponse, error) {
		done := 0
		for _, msg := range req.Messages {
			if msg.Role == ai.RoleTool {
				done++
			}
		}
		if WantTool(done, k) {
			return &ai.ModelResponse{Request: req, FinishReason: ai.FinishReasonStop, Message: &ai.Message{Role: ai.RoleModel,
				Content: []*ai.Part{ai.NewToolRequestPart(&ai.ToolRequest{Ref: CallID(done + 1), Name: ToolName,
					Input: map[string]any{"a": 2, "b": 3}})}}}, nil
		}
		return &ai.ModelResponse{Request: req, FinishReason: ai.FinishReasonStop, Message: ai.NewModelTextMessage(Answer)}, nil
	}
}

func genkitRunner(tb testing.TB, k int, httpURL string) func() {
	ctx := context.Background()
	var g *genkit.Genkit
	var m ai.Model
	if httpURL == "" {
		g = genkit.Init(ctx)
		m = genkit.DefineModel(g, "fake/model", &ai.ModelOptions{Supports: &ai.ModelSupports{Tools: true, Multiturn: true, SystemRole: true}}, genkitModelFunc(k))
	} else {
		p := &gkopenai.OpenAI{APIKey: "test", Opts: []option.RequestOption{option.WithBaseURL(httpURL)}}
		g = genkit.Init(ctx, genkit.WithPlugins(p))
		m = p.Model(g, "gpt-4.1")
	}
	add := genkit.DefineTool(g, ToolName, ToolDesc, func(_ *ai.ToolContext, in AddIn) (int, error) {
		return Add(in.A, in.B), nil
	})
	return func() {
		resp, err := genkit.Generate(ctx, g, ai.WithModel(m), ai.WithPrompt(Prompt), ai.WithTools(add), ai.WithMaxTurns(k+1))
		if err != nil || resp.Text() != Answer {
			tb.Fatalf("genkit: %v, %v", resp, err)
		}
	}
}
