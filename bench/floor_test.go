package bench

import (
	"encoding/json"
	"testing"
)

// The floor: the least a real loop does. A message history, a model call
// per step, and for each tool call: decode the arguments, call, encode the
// result.

type floorCall struct {
	ID, Name, Args string
}

type floorMsg struct {
	Role    string
	Content string
	Calls   []floorCall
	CallID  string
}

func floorModel(k int, msgs []floorMsg) floorMsg {
	done := 0
	for i := range msgs {
		if msgs[i].Role == "tool" {
			done++
		}
	}
	if WantTool(done, k) {
		return floorMsg{Role: "assistant", Calls: []floorCall{{ID: CallID(done + 1), Name: ToolName, Args: Args}}}
	}
	return floorMsg{Role: "assistant", Content: Answer}
}

func floorRun(tb testing.TB, k int) string {
	msgs := []floorMsg{{Role: "user", Content: Prompt}}
	for {
		m := floorModel(k, msgs)
		msgs = append(msgs, m)
		if len(m.Calls) == 0 {
			return m.Content
		}
		for _, c := range m.Calls {
			var in AddIn
			if err := json.Unmarshal([]byte(c.Args), &in); err != nil {
				tb.Fatal(err)
			}
			out, err := json.Marshal(Add(in.A, in.B))
			if err != nil {
				tb.Fatal(err)
			}
			msgs = append(msgs, floorMsg{Role: "tool", CallID: c.ID, Content: string(out)})
		}
	}
}

func floorRunner(tb testing.TB, k int) func() {
	return func() {
		if out := floorRun(tb, k); out != Answer {
			tb.Fatalf("floor: %q", out)
		}
	}
}
