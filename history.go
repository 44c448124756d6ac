package ratchet

import (
	"context"
	"fmt"
	"slices"
)

// TrimmedContent replaces the content of a tool result the history policy
// trimmed from the model's view.
const TrimmedContent = "[ratchet: this tool result was removed to fit the context window]"

// HistoryPolicy decides what the model sees of a long history. The persisted
// log always keeps everything; only the view sent to the model changes, and
// every change is recorded (history_trimmed).
//
// By default nothing is trimmed until the model reports a context_length
// error; then the oldest half of the tool results still shown are replaced by
// TrimmedContent and the call is retried. With ContextWindow set, the same
// trimming happens before a call whose estimated prompt exceeds it. The
// instructions, the input, and every tool call (paired with its result,
// trimmed or not) always stay.
type HistoryPolicy struct {
	// ContextWindow is the prompt size, in estimated tokens, above which
	// the history is trimmed before a call. Zero: only after a
	// context_length error.
	ContextWindow int
	// EstimateTokens estimates a message's tokens. Defaults to about four
	// bytes a token.
	EstimateTokens func(Message) int
	// Summarize, when set, is used instead of trimming: it receives the
	// oldest whole steps of the history (and any earlier summary) and
	// returns a text that stands in for them.
	Summarize func(ctx context.Context, msgs []Message) (string, error)
}

func estimateTokens(m Message) int {
	n := len(m.Content) + len(m.Refusal)
	for _, c := range m.ToolCalls {
		n += len(c.Name) + len(c.Arguments)
	}
	return n/4 + 4
}

// view returns the messages sent to the model: instructions, then the
// history as the history policy shows it.
func (r *Run) view() []Message {
	s := &r.state
	v := &r.viewOf
	if r.viewBuf != nil && v.messages <= len(s.Messages) && v.trimmed == len(s.Trimmed) &&
		v.summary == s.Summary && v.upTo == s.SummaryUpTo {
		// Only new messages since the last view: append them. (A Model
		// must not modify or keep a Request, so the buffer is intact.)
		r.viewBuf = append(r.viewBuf, s.Messages[v.messages:]...)
		v.messages = len(s.Messages)
		return r.viewBuf
	}
	msgs := r.viewBuf[:0]
	if cap(msgs) < len(s.Messages)+2 {
		msgs = make([]Message, 0, 2*len(s.Messages)+4)
	}
	if r.a.cfg.Instructions != "" {
		msgs = append(msgs, Message{Role: RoleSystem, Content: r.a.cfg.Instructions})
	}
	from := 0
	if s.Summary != "" {
		msgs = append(msgs, s.Messages[:s.InputLen]...)
		msgs = append(msgs, Message{Role: RoleUser, Content: "Summary of the earlier part of this task: " + s.Summary})
		from = s.SummaryUpTo
	}
	base := len(msgs)
	msgs = append(msgs, s.Messages[from:]...)
	for _, i := range s.Trimmed {
		if i >= from {
			msgs[base+i-from].Content = TrimmedContent
		}
	}
	r.viewBuf = msgs
	*v = viewOf{messages: len(s.Messages), trimmed: len(s.Trimmed), summary: s.Summary, upTo: s.SummaryUpTo}
	return msgs
}

// viewOf says what Run.viewBuf mirrors of the state.
type viewOf struct {
	messages, trimmed, upTo int
	summary                 string
}

func (r *Run) estimate(msgs []Message) int {
	est := r.a.cfg.History.EstimateTokens
	if est == nil {
		est = estimateTokens
	}
	n := 0
	for _, m := range msgs {
		n += est(m)
	}
	return n
}

// fitHistory shrinks the view until its estimate fits the context window.
func (r *Run) fitHistory(ctx context.Context) error {
	w := r.a.cfg.History.ContextWindow
	if w <= 0 {
		return nil
	}
	for r.estimate(r.view()) > w {
		ok, err := r.shrinkHistory(ctx)
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

// shrinkHistory makes the view smaller once: it summarises or trims the
// oldest half of what can go. It reports false when nothing can.
func (r *Run) shrinkHistory(ctx context.Context) (bool, error) {
	s := &r.state
	// Messages of the current step (after the last assistant message that
	// has all its results) stay.
	end := len(s.Messages)
	if s.Calls != nil {
		end-- // the assistant message whose calls are open
	}
	if sum := r.a.cfg.History.Summarize; sum != nil {
		from := max(s.SummaryUpTo, s.InputLen)
		// Cut at a step boundary: just before an assistant message, half
		// way through what can be summarised.
		cut := -1
		for i := from + (end-from)/2; i < end; i++ {
			if s.Messages[i].Role == RoleAssistant && i > from {
				cut = i
				break
			}
		}
		if cut < 0 {
			return false, nil
		}
		part := slices.Clone(s.Messages[from:cut])
		if s.Summary != "" {
			part = append([]Message{{Role: RoleUser, Content: "Summary so far: " + s.Summary}}, part...)
		}
		text, err := sum(ctx, part)
		if err != nil {
			return false, fmt.Errorf("ratchet: run %s: summarise history: %w", r.ID(), err)
		}
		return true, r.append(ctx, &Record{Kind: RecHistoryTrimmed, Step: s.Step, Summary: text, SummaryUpTo: cut})
	}
	trimmed := make(map[int]bool, len(s.Trimmed))
	for _, i := range s.Trimmed {
		trimmed[i] = true
	}
	var cands []int
	for i := max(s.InputLen, s.SummaryUpTo); i < end; i++ {
		if s.Messages[i].Role == RoleTool && !trimmed[i] && s.Messages[i].Content != TrimmedContent {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return false, nil
	}
	cands = cands[:(len(cands)+1)/2]
	return true, r.append(ctx, &Record{Kind: RecHistoryTrimmed, Step: s.Step, Trimmed: cands})
}
