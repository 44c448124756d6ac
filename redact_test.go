package ratchet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/openai"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// The secrets of the end-to-end test: one the agents' Redactor knows, and
// the openai adapter's API key and a credential in its BaseURL, which only
// the adapter knows.
const (
	planted   = "sk-live-PLANTED-4242"
	apiKey    = "sk-proj-APIKEY-7777"
	urlSecret = "tok-URLQUERY-9999"
)

var plantedRedactor = ratchet.RedactFunc(func(s string) string { return strings.ReplaceAll(s, planted, "[redacted]") })

// redactLogBuffer is a bytes.Buffer safe for the concurrent writes of loggers.
type redactLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *redactLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *redactLogBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// secretsIn returns the files under dir, and "logs" for logs, whose raw
// bytes hold one of the secrets.
func secretsIn(t *testing.T, dir string, logs []byte) []string {
	t.Helper()
	var hits []string
	check := func(name string, data []byte) {
		for _, s := range []string{planted, apiKey, urlSecret} {
			if bytes.Contains(data, []byte(s)) {
				i := bytes.Index(data, []byte(s))
				hits = append(hits, fmt.Sprintf("%s holds %s: ...%s...", name, s, data[max(0, i-80):min(len(data), i+len(s)+40)]))
			}
		}
	}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		check(path, data)
		return nil
	})
	require.NoError(t, err)
	require.NotZero(t, files, "no store files")
	check("logs", logs)
	return hits
}

// TestSecretsNeverPersisted plants a secret in every place a model, a tool,
// a server, an application and a Scheduler's caller can put text, runs
// every kind of record (but usage, which TestRedactRecordEveryString
// covers) through a File store, and then finds it in no byte of the
// store's files, after Close, nor of the logs.
func TestSecretsNeverPersisted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	fst, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	logs := &redactLogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sched, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: fst, Owner: "redact-test", Logger: logger, PollInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sched.StopAndCancel(stop)
	})
	var ids atomic.Int64
	agent := func(name string, m ratchet.Model, tools []ratchet.Tool, edit func(*ratchet.Config)) {
		t.Helper()
		cfg := ratchet.Config{
			Name: name, Model: m, Tools: tools, Store: fst,
			Observer: ratchet.NewSlogObserver(logger), Redactor: plantedRedactor,
			SnapshotEvery: 3,
			Retry:         ratchet.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond},
			NewID:         func() string { return fmt.Sprintf("%s-%d", name, ids.Add(1)) },
			Random:        func() float64 { return 0.5 },
		}
		if edit != nil {
			edit(&cfg)
		}
		a, err := ratchet.NewAgent(cfg)
		require.NoError(t, err)
		require.NoError(t, sched.Register(a, nil))
	}
	text := func(in echoIn) string { return in.Text }
	echo := ratchet.NewTool("echo", "Echoes.", func(ctx context.Context, in echoIn) (string, error) {
		return "echo: " + text(in), nil
	})
	broken := ratchet.NewTool("broken", "Fails.", func(ctx context.Context, in echoIn) (string, error) {
		return "", errors.New("backend said " + text(in))
	})
	var flakes atomic.Int64
	flaky := ratchet.NewTool("flaky", "Fails once.", func(ctx context.Context, in echoIn) (string, error) {
		if flakes.Add(1) == 1 {
			return "", errors.New("timeout talking to " + text(in))
		}
		return "flaky ok " + text(in), nil
	}, ratchet.Idempotent(), ratchet.WithOnError(ratchet.ToolErrorRetry),
		ratchet.WithRetry(ratchet.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	ask := ratchet.NewTool("ask", "Asks a person.", func(ctx context.Context, in echoIn) (string, error) {
		return "", ratchet.Interrupt(ratchet.Question{
			Prompt:  "may I use " + text(in) + "?",
			Schema:  json.RawMessage(`{"type":"string","description":"the key ` + planted + `"}`),
			Default: json.RawMessage(`"default ` + planted + `"`),
		})
	})
	deploy := ratchet.NewTool("deploy", "Deploys.", func(ctx context.Context, in echoIn) (string, error) {
		return "deployed with " + text(in), nil
	}, ratchet.NeedsApproval())
	wait := ratchet.NewTool("wait", "Waits for an event.", func(ctx context.Context, in echoIn) (string, error) {
		return "", ratchet.WaitForEvent("paid-"+text(in), time.Time{})
	})
	args := `{"text":"` + planted + `"}`
	call := func(name string) ratchet.ToolCall {
		return ratchet.ToolCall{ID: "call-" + name, Name: name, Arguments: args}
	}
	resp := func(m ratchet.Message) ratchettest.Reply {
		m.Role = ratchet.RoleAssistant
		return ratchettest.Reply{Response: &ratchet.Response{Message: m, Model: "gpt-" + planted,
			FinishReason: ratchet.FinishToolCalls, Usage: ratchet.Usage{InputTokens: 10, OutputTokens: 5}}}
	}
	final := ratchettest.Text("the answer is " + planted)

	// main: a transient model failure, output the server could not parse
	// (a repair turn), an unknown tool,
	// then calls whose results, errors, retries, questions, approvals
	// and event waits carry the secret, then the final answer.
	agent("main", ratchettest.NewModelFunc(t, func(ctx context.Context, n int, req *ratchet.Request) ratchettest.Reply {
		switch n {
		case 0:
			return ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelTransient, StatusCode: 503, Code: "code-" + planted, Message: "proxy echoed Authorization: Bearer " + planted})
		case 1:
			return ratchettest.Fail(&ratchet.ModelError{Kind: ratchet.ModelInvalidOutput, Message: "cannot parse " + planted, Output: `{"key": "` + planted + `"`})
		case 2:
			return resp(ratchet.Message{Content: "thinking about " + planted, Refusal: "I will not print " + planted,
				ToolCalls: []ratchet.ToolCall{{ID: "id-" + planted, Name: "no-such-" + planted, Arguments: args}}})
		case 3:
			return resp(ratchet.Message{Content: "working with " + planted, ToolCalls: []ratchet.ToolCall{
				call("echo"), call("broken"), call("flaky"), call("ask"), call("deploy"), call("wait")}})
		}
		return final
	}), []ratchet.Tool{echo, broken, flaky, ask, deploy, wait}, nil)

	// pauser: a tool error pauses the run; RetryRun resumes it.
	var halts atomic.Int64
	halt := ratchet.NewTool("halt", "Pauses once.", func(ctx context.Context, in echoIn) (string, error) {
		if halts.Add(1) == 1 {
			return "", errors.New("quota exceeded for " + text(in))
		}
		return "halt ok", nil
	}, ratchet.WithOnError(ratchet.ToolErrorPause))
	toolThenFinal := func(tool string) ratchet.Model {
		return ratchettest.NewModelFunc(t, func(ctx context.Context, n int, req *ratchet.Request) ratchettest.Reply {
			if n == 0 {
				return resp(ratchet.Message{ToolCalls: []ratchet.ToolCall{call(tool)}})
			}
			return final
		})
	}
	agent("pauser", toolThenFinal("halt"), []ratchet.Tool{halt}, nil)

	// failer: a tool error fails the run.
	boom := ratchet.NewTool("boom", "Fails the run.", func(ctx context.Context, in echoIn) (string, error) {
		return "", errors.New("fatal: " + text(in))
	}, ratchet.WithOnError(ratchet.ToolErrorFail))
	agent("failer", toolThenFinal("boom"), []ratchet.Tool{boom}, nil)

	// canceller: waits for a person, and is cancelled with a reason.
	agent("canceller", toolThenFinal("ask"), []ratchet.Tool{ask}, nil)

	// winder: a step budget with wind-down.
	agent("winder", toolThenFinal("echo"), []ratchet.Tool{echo}, func(c *ratchet.Config) {
		c.Budget = ratchet.Budget{MaxSteps: 1, WindDown: true}
	})

	// summarizer: a context window that makes the history be summarised.
	agent("summarizer", ratchettest.NewModelFunc(t, func(ctx context.Context, n int, req *ratchet.Request) ratchettest.Reply {
		if n < 2 {
			return resp(ratchet.Message{ToolCalls: []ratchet.ToolCall{call("echo")}})
		}
		return final
	}), []ratchet.Tool{echo}, func(c *ratchet.Config) {
		c.History = ratchet.HistoryPolicy{ContextWindow: 10, Summarize: func(ctx context.Context, msgs []ratchet.Message) (string, error) {
			return "summary: " + msgs[len(msgs)-1].Content, nil
		}}
	})

	// oai: the openai adapter against a server that echoes the request's
	// headers and URL in its error body.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		msg := fmt.Sprintf("bad request from %s with headers %v", r.URL.String(), r.Header)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": r.Header.Get("Authorization")}})
	}))
	t.Cleanup(srv.Close)
	om, err := openai.New(openai.Config{Model: "gpt-test", APIKey: apiKey, BaseURL: srv.URL + "/v1?api_key=" + urlSecret})
	require.NoError(t, err)
	agent("oai", om, nil, nil)

	require.NoError(t, sched.Start(ctx))
	require.NoError(t, sched.AddPeriodic(ctx, ratchet.PeriodicSpec{ID: "nightly", Agent: "main", Input: "nightly with " + planted,
		Schedule: "@every 24h", Labels: map[string]string{"key": planted}}))
	labels := map[string]string{"customer": "acme " + planted}
	start := func(agent string) string {
		t.Helper()
		id, err := sched.StartRun(ctx, agent, "use the key "+planted, &ratchet.RunOptions{Labels: labels})
		require.NoError(t, err)
		return id
	}

	mainID := start("main")
	waitStatus(t, fst, mainID, ratchet.StatusWaiting)
	// Every interrupt of the step is raised before the run waits for good.
	var pend []ratchet.PendingInterrupt
	require.Eventually(t, func() bool {
		st, err := ratchet.LoadState(ctx, fst, mainID)
		require.NoError(t, err)
		pend = st.Interrupts
		return len(pend) == 3 && st.Status == ratchet.StatusWaiting
	}, 10*time.Second, time.Millisecond)
	byKind := map[ratchet.InterruptKind]ratchet.PendingInterrupt{}
	for _, p := range pend {
		byKind[p.Kind] = p
	}
	require.NoError(t, sched.Send(ctx, mainID, ratchet.RunEvent{Name: "note", Data: json.RawMessage(`{"note":"` + planted + `"}`)}))
	// The event's name is redacted like the name the tool waits for: they
	// still match.
	require.NoError(t, sched.Send(ctx, mainID, ratchet.RunEvent{Name: "paid-" + planted, Data: json.RawMessage(`"receipt ` + planted + `"`)}))
	require.NoError(t, sched.Answer(ctx, mainID, byKind[ratchet.InterruptQuestion].ID, ratchet.Answer{Value: json.RawMessage(`"yes, ` + planted + `"`)}))
	require.NoError(t, sched.Answer(ctx, mainID, byKind[ratchet.InterruptApproval].ID, ratchet.Answer{Approved: true, Reason: "fine, " + planted}))
	waitStatus(t, fst, mainID, ratchet.StatusSucceeded)

	pauseID := start("pauser")
	waitStatus(t, fst, pauseID, ratchet.StatusPaused)
	_, err = ratchet.RetryRun(ctx, fst, nil, pauseID, nil)
	require.NoError(t, err)
	waitStatus(t, fst, pauseID, ratchet.StatusSucceeded)

	failID := start("failer")
	waitStatus(t, fst, failID, ratchet.StatusFailed)

	cancelID := start("canceller")
	waitStatus(t, fst, cancelID, ratchet.StatusWaiting)
	waitReleased(t, fst, cancelID)
	_, err = sched.Cancel(ctx, cancelID, "operator: leaked "+planted)
	require.NoError(t, err)

	windID := start("winder")
	summaryID := start("summarizer")
	waitStatus(t, fst, summaryID, ratchet.StatusSucceeded)
	oaiID := start("oai")
	for _, id := range []string{windID, oaiID} {
		require.Eventually(t, func() bool {
			info, err := fst.Get(ctx, id)
			return err == nil && ratchet.Status(info.Status) != ratchet.StatusRunning && info.Lease.Owner == ""
		}, 10*time.Second, time.Millisecond, "run %s never came to rest", id)
	}

	// The test ran what it means to: every record kind but usage, the
	// runs where they should be.
	kinds := map[ratchet.RecordKind]bool{}
	for _, id := range []string{mainID, pauseID, failID, cancelID, windID, summaryID, oaiID} {
		recs, err := fst.Read(ctx, id, 1)
		require.NoError(t, err)
		for _, r := range recs {
			rec, err := ratchet.DecodeRecord(r.Seq, r.Data)
			require.NoError(t, err)
			kinds[rec.Kind] = true
		}
	}
	for _, k := range []ratchet.RecordKind{ratchet.RecRunStarted, ratchet.RecModelFailed, ratchet.RecModelResponded,
		ratchet.RecToolStarted, ratchet.RecToolFinished, ratchet.RecRepair, ratchet.RecHistoryTrimmed, ratchet.RecToolFailed,
		ratchet.RecWindDown, ratchet.RecRunPaused, ratchet.RecRunResumed, ratchet.RecRunCompleted, ratchet.RecRunFailed,
		ratchet.RecInterrupted, ratchet.RecAnswered, ratchet.RecEventReceived, ratchet.RecRunCancelled, ratchet.RecSnapshot} {
		require.True(t, kinds[k], "no %s record", k)
	}
	st, err := ratchet.LoadState(ctx, fst, mainID)
	require.NoError(t, err)
	require.Equal(t, "the answer is [redacted]", st.Output)
	require.Equal(t, "acme [redacted]", st.Labels["customer"])
	info, err := fst.Get(ctx, mainID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"customer": "acme [redacted]"}, info.Labels)
	listed, err := fst.List(ctx, store.Query{Labels: map[string]string{"customer": "acme [redacted]"}})
	require.NoError(t, err)
	require.Len(t, listed, 7, "a query matches the redacted label values")
	oaiState, err := ratchet.LoadState(ctx, fst, oaiID)
	require.NoError(t, err)
	require.NotNil(t, oaiState.Error)
	require.Contains(t, oaiState.Error.Message, openai.Redacted, "the server's echo reached the record, scrubbed")

	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, sched.Stop(stop))
	require.NoError(t, fst.Close())
	require.Contains(t, string(logs.Bytes()), "[redacted]", "the logs saw redacted text")
	require.Empty(t, secretsIn(t, dir, logs.Bytes()))
}
