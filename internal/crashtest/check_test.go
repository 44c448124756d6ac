package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet/internal/childprog"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// child is this package's program, built with the race detector when
// RATCHET_CRASH_RACE=1 (it makes every child several times slower, so it
// is not the default, even under go test -race; see TestMain).
var child = childprog.New("crashprog")

// invocation is what one run of the child did, as its event pipe and its
// exit status tell.
type invocation struct {
	events  []Event
	killed  bool // ended by SIGKILL (its own or the parent's)
	done    bool // reported the final answer
	refused bool // an injected fault failed it as it must (exit code 3)
	writes  int  // with CRASH_FAULT, the writes and syncs of a whole run
	syncs   int
	output  string
	hooks   int64
	acks    int
	elapsed time.Duration
}

// midRun reports whether the invocation was killed while its run was in
// progress: after the store acknowledged something, before the end.
func (inv *invocation) midRun() bool { return inv.killed && inv.acks > 0 && !inv.done }

// crashed reports whether the invocation ended before its run did, killed
// or failed by an injected fault.
func (inv *invocation) crashed() bool { return inv.killed || inv.refused }

// testBundle is one crash scenario: one store directory, the child's
// invocations over it, and what the checker found wrong.
type testBundle struct {
	bin      string
	dir      string
	env      []string // CRASH_STORE and the like
	invs     []*invocation
	findings []string
}

func setup(t *testing.T, env ...string) *testBundle {
	t.Helper()
	bin, err := child.Path()
	require.NoError(t, err)
	return &testBundle{bin: bin, dir: t.TempDir(), env: env}
}

func (b *testBundle) findf(format string, args ...any) {
	if len(b.findings) < 50 {
		b.findings = append(b.findings, fmt.Sprintf(format, args...))
	}
}

// done reports whether an invocation reported the end of the run.
func (b *testBundle) done() bool {
	for _, inv := range b.invs {
		if inv.done {
			return true
		}
	}
	return false
}

// kills counts the invocations that SIGKILL ended.
func (b *testBundle) kills() (all, midRun int) {
	for _, inv := range b.invs {
		if inv.killed {
			all++
		}
		if inv.midRun() {
			midRun++
		}
	}
	return all, midRun
}

// start runs one invocation of the child; killAt and delay as in the
// package doc; killAfter, when positive, makes the parent SIGKILL the
// child after that long. Before it, the store must hold every record
// acknowledged so far. A child that fails other than by SIGKILL is a
// finding (a broken store can make it fail).
func (b *testBundle) start(t *testing.T, killAt int, delay, killAfter time.Duration) *invocation {
	t.Helper()
	b.verifyAcked(t, fmt.Sprintf("before invocation %d", len(b.invs)+1))
	inv := &invocation{}
	b.invs = append(b.invs, inv)
	cmd := exec.Command(b.bin)
	cmd.Env = append(os.Environ(), "CRASH_DIR="+b.dir,
		"CRASH_KILL_AT="+strconv.Itoa(killAt), "CRASH_DELAY="+delay.String())
	cmd.Env = append(cmd.Env, b.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd.ExtraFiles = []*os.File{w} // EventFD
	began := time.Now()
	err = cmd.Start()
	_ = w.Close()
	require.NoError(t, err)
	read := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(r)
		read <- data
	}()
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err = cmd.Wait()
	inv.elapsed = time.Since(began)
	data := <-read
	// A line cut by the kill was never fully reported: it does not count.
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		var e Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "event %q", sc.Text())
		inv.events = append(inv.events, e)
		switch e.Ev {
		case "ack":
			inv.acks++
		case "done":
			inv.done, inv.output, inv.hooks = true, e.Output, e.Hooks
			inv.writes, inv.syncs = e.Writes, e.Syncs
		case "refused":
			inv.refused = true
		}
	}
	require.NoError(t, sc.Err())
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
		ws, ok := ee.Sys().(syscall.WaitStatus)
		switch {
		case ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL:
			inv.killed = true
		case ok && ws.Exited() && ws.ExitStatus() == exitRefused && inv.refused:
		default:
			b.findf("invocation %d failed: %v; stderr: %s", len(b.invs), err, stderr.String())
		}
	}
	return inv
}

// finish restarts the child, without kills, until the run completes.
func (b *testBundle) finish(t *testing.T) {
	t.Helper()
	for i := 0; !b.done(); i++ {
		if i == 3 {
			b.findf("the run did not complete in %d invocations without kills", i)
			return
		}
		b.start(t, 0, 0, 0)
	}
}

// verifyAcked checks that the store holds every record acknowledged so far,
// byte for byte, at its sequence.
func (b *testBundle) verifyAcked(t *testing.T, when string) {
	t.Helper()
	if len(b.invs) == 0 {
		return
	}
	fs, err := store.NewFile(filepath.Join(b.dir, "store"), nil)
	if err != nil {
		b.findf("%s: the store does not open: %v", when, err)
		return
	}
	defer fs.Close()
	logs := map[string][]store.Record{}
	for i, inv := range b.invs {
		for _, e := range inv.events {
			if e.Ev != "ack" || len(e.Recs) == 0 {
				continue
			}
			recs, ok := logs[e.Run]
			if !ok {
				recs, err = fs.Read(context.Background(), e.Run, 1)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					b.findf("%s: read %s: %v", when, e.Run, err)
				}
				logs[e.Run] = recs
			}
			for k, want := range e.Recs {
				seq := e.First + uint64(k)
				switch {
				case seq > uint64(len(recs)):
					b.findf("%s: record %d of %s, acknowledged (%s) in invocation %d, is lost (the log has %d records)",
						when, seq, e.Run, e.Op, i+1, len(recs))
				case !bytes.Equal(recs[seq-1].Data, want):
					b.findf("%s: record %d of %s, acknowledged (%s) in invocation %d, differs: %q, acknowledged %q",
						when, seq, e.Run, e.Op, i+1, recs[seq-1].Data, want)
				}
			}
		}
	}
}

// outcome is the run's final state in the store.
type outcome struct {
	status    string
	responses int             // model_responded records
	finished  map[string]bool // idempotency keys with tool_finished
	unknown   map[string]bool // keys finished as unknown outcome
}

func (b *testBundle) outcome(t *testing.T) outcome {
	t.Helper()
	o := outcome{finished: map[string]bool{}, unknown: map[string]bool{}}
	fs, err := store.NewFile(filepath.Join(b.dir, "store"), nil)
	if err != nil {
		b.findf("at the end: the store does not open: %v", err)
		return o
	}
	defer fs.Close()
	ctx := context.Background()
	info, err := fs.Get(ctx, RunID)
	if err != nil {
		b.findf("at the end: %v", err)
		return o
	}
	o.status = info.Status
	recs, err := fs.Read(ctx, RunID, 1)
	if err != nil {
		b.findf("at the end: %v", err)
		return o
	}
	for _, sr := range recs {
		r, err := ratchet.DecodeRecord(sr.Seq, sr.Data)
		if err != nil {
			b.findf("at the end: record %d: %v", sr.Seq, err)
			continue
		}
		switch r.Kind {
		case ratchet.RecModelResponded:
			o.responses++
		case ratchet.RecToolFinished:
			o.finished[r.Call.Key] = true
			if r.Result.Error == string(ratchet.ToolErrorUnknownOutcome) {
				o.unknown[r.Call.Key] = true
			}
		}
	}
	return o
}

// check verifies a completed scenario against what the child reported
// and returns the findings (nil when it is all right). Its reference is
// what was acknowledged, not what survived: a store that loses an
// acknowledged record fails it.
func (b *testBundle) check(t *testing.T) []string {
	t.Helper()
	b.verifyAcked(t, "at the end")
	var dones int
	for i, inv := range b.invs {
		if inv.done {
			dones++
			if inv.output != WantOutput {
				b.findf("invocation %d answered %q, want %q", i+1, inv.output, WantOutput)
			}
		}
	}
	if dones != 1 {
		b.findf("%d invocations completed the run, want 1", dones)
	}
	final := b.outcome(t)
	if final.status != string(ratchet.StatusSucceeded) {
		b.findf("the run's status is %q at the end", final.status)
	}
	if final.responses != len(Script)+1 {
		b.findf("the log has %d model responses, want %d", final.responses, len(Script)+1)
	}

	// Replay the events in order, with what was acknowledged before each.
	responses := 0                 // model_responded acknowledged
	started := map[string]bool{}   // keys with tool_started acknowledged
	finished := map[string]bool{}  // keys with tool_finished acknowledged
	lastEffect := map[string]int{} // key -> invocation of its last side effect
	effects := map[string]int{}    // key -> side effects
	for i, inv := range b.invs {
		n := i + 1
		for _, e := range inv.events {
			switch e.Ev {
			case "ack":
				for k, data := range e.Recs {
					r, err := ratchet.DecodeRecord(e.First+uint64(k), data)
					if err != nil {
						b.findf("invocation %d acknowledged an undecodable record: %v", n, err)
						continue
					}
					switch r.Kind {
					case ratchet.RecModelResponded:
						responses++
					case ratchet.RecToolStarted:
						started[r.Call.Key] = true
					case ratchet.RecToolFinished:
						finished[r.Call.Key] = true
					}
				}
			case "model":
				if e.N < responses {
					b.findf("invocation %d asked the model for step %d, whose response was acknowledged (%d acknowledged)",
						n, e.N, responses)
				}
			case "tool":
				effects[e.Key]++
				if finished[e.Key] {
					b.findf("invocation %d re-ran %s (%s) after its result was acknowledged", n, e.Key, e.Tool)
				}
				if !started[e.Key] {
					b.findf("invocation %d ran %s (%s) before its tool_started was acknowledged", n, e.Key, e.Tool)
				}
				if last, ok := lastEffect[e.Key]; ok {
					switch {
					case e.Tool != "add":
						b.findf("non-idempotent %s ran again in invocation %d", e.Key, n)
					case last == n || !b.invs[last-1].crashed():
						b.findf("idempotent %s ran again in invocation %d without a crash or fault inside it", e.Key, n)
					}
				}
				lastEffect[e.Key] = n
			}
		}
	}
	for key := range final.finished {
		if final.unknown[key] {
			continue // a note killed mid-call; its effect may or may not have happened
		}
		if effects[key] == 0 {
			b.findf("tool %s has a result but never ran", key)
		}
	}
	for key, n := range effects {
		if !final.finished[key] {
			b.findf("tool %s ran (%d times) but has no result", key, n)
		}
	}
	return b.findings
}
