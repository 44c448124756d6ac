package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// This file checks that concurrent histories of Append, Read, Get and the
// lease methods are linearizable: that every result the store returned is
// the result of some order of the operations, one at a time, that keeps
// the order of operations that did not overlap in time. The sequential
// specification (linModel) is written from the Store interface's doc, not
// from an implementation; porcupine searches for the order.

type linKind int

const (
	linGet linKind = iota
	linRead
	linAppend
	linAcquire
	linRenew
	linRelease
)

// leaseStore is a store with leases, which the histories use.
type leaseStore interface {
	store.Store
	store.Leaser
}

// linInput is one operation on one run.
type linInput struct {
	kind linKind
	run  string
	// append
	expected uint64
	rec      string
	fence    uint64
	// acquire (owner, now, until); renew and release (owner, token; renew:
	// until)
	owner      string
	token      uint64
	now, until int64
}

// linOutput is its result.
type linOutput struct {
	err     string // "", "conflict" or "leased"
	lastSeq uint64
	lease   linLease
	recs    []string // read
}

type linLease struct {
	owner   string
	token   uint64
	expires int64 // Unix seconds; 0 for none
}

// linState is one run as the specification sees it.
type linState struct {
	recs  []string // never modified in place
	lease linLease
}

func linStep(st linState, in linInput, out linOutput) (bool, linState) {
	switch in.kind {
	case linGet:
		return out.err == "" && out.lastSeq == uint64(len(st.recs)) && out.lease == st.lease, st
	case linRead:
		return out.err == "" && slices.Equal(out.recs, st.recs), st
	case linAppend:
		ok := in.expected == uint64(len(st.recs)) &&
			(in.fence == 0 || (st.lease.owner != "" && st.lease.token == in.fence))
		if !ok {
			return out.err == "conflict", st
		}
		if out.err != "" {
			return false, st
		}
		next := st
		next.recs = append(slices.Clip(st.recs), in.rec)
		return true, next
	case linAcquire:
		// Free (never taken or released), expired at now, or held by the
		// same owner: granted; a new owner gets the next token.
		var l linLease
		switch {
		case st.lease.owner == in.owner:
			l = linLease{owner: in.owner, token: st.lease.token, expires: in.until}
		case st.lease.owner == "" || st.lease.expires <= in.now:
			l = linLease{owner: in.owner, token: st.lease.token + 1, expires: in.until}
		default:
			return out.err == "leased", st
		}
		if out.err != "" || out.lease != l {
			return false, st
		}
		next := st
		next.lease = l
		return true, next
	case linRenew, linRelease:
		holds := st.lease.owner != "" && st.lease.owner == in.owner && st.lease.token == in.token
		if !holds {
			return out.err == "conflict", st
		}
		l := linLease{token: st.lease.token} // released: the token stays
		if in.kind == linRenew {
			l = linLease{owner: st.lease.owner, token: st.lease.token, expires: in.until}
		}
		if out.err != "" || (in.kind == linRenew && out.lease != l) {
			return false, st
		}
		next := st
		next.lease = l
		return true, next
	}
	return false, st
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byRun := map[string][]porcupine.Operation{}
		var runs []string
		for _, op := range history {
			run := op.Input.(linInput).run
			if _, ok := byRun[run]; !ok {
				runs = append(runs, run)
			}
			byRun[run] = append(byRun[run], op)
		}
		var out [][]porcupine.Operation
		for _, r := range runs {
			out = append(out, byRun[r])
		}
		return out
	},
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		return linStep(state.(linState), input.(linInput), output.(linOutput))
	},
	Equal: func(a, b any) bool {
		x, y := a.(linState), b.(linState)
		return x.lease == y.lease && slices.Equal(x.recs, y.recs)
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		res := out.err
		if res == "" {
			res = "ok"
		}
		switch in.kind {
		case linGet:
			return fmt.Sprintf("get(%s) -> seq %d lease %+v", in.run, out.lastSeq, out.lease)
		case linRead:
			return fmt.Sprintf("read(%s) -> %v", in.run, out.recs)
		case linAppend:
			return fmt.Sprintf("append(%s, exp %d, %s, fence %d) -> %s", in.run, in.expected, in.rec, in.fence, res)
		case linAcquire:
			return fmt.Sprintf("acquire(%s, %s, now %d, until %d) -> %s %+v", in.run, in.owner, in.now, in.until, res, out.lease)
		case linRenew:
			return fmt.Sprintf("renew(%s, %s/%d, until %d) -> %s %+v", in.run, in.owner, in.token, in.until, res, out.lease)
		default:
			return fmt.Sprintf("release(%s, %s/%d) -> %s", in.run, in.owner, in.token, res)
		}
	},
	DescribeState: func(state any) string {
		st := state.(linState)
		return fmt.Sprintf("%d records, lease %+v", len(st.recs), st.lease)
	},
}

// linRuns are the runs the clients share; each is created with no records.
var linRuns = []string{"lin-a", "lin-b"}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// linHistory runs clients concurrently, each doing ops random operations
// on the stores (client i uses stores[i%len(stores)], so that two opens of
// one File directory share the history), and returns the history.
func linHistory(t *testing.T, stores []leaseStore, clients, ops int, seed uint64) []porcupine.Operation {
	t.Helper()
	ctx := context.Background()
	for _, id := range linRuns {
		require.NoError(t, stores[0].Create(ctx, store.RunInfo{ID: id, Agent: "lin"}, nil))
	}
	var clock atomic.Int64 // a logical clock: real-time order of calls and returns
	history := make([][]porcupine.Operation, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			st := stores[c%len(stores)]
			owner := fmt.Sprintf("c%d", c)
			seen := map[string]uint64{}     // last LastSeq this client saw
			leases := map[string]linLease{} // its last granted lease
			for i := range ops {
				in := linInput{run: linRuns[rng.IntN(len(linRuns))], owner: owner}
				mine := leases[in.run]
				switch p := rng.IntN(100); {
				case p < 25:
					in.kind = linGet
				case p < 35:
					in.kind = linRead
				case p < 70:
					in.kind, in.expected, in.rec = linAppend, seen[in.run], fmt.Sprintf("%s-%d", owner, i)
					if rng.IntN(2) == 0 {
						in.fence = mine.token
					}
				case p < 85:
					in.kind, in.now = linAcquire, int64(1+rng.IntN(100))
					in.until = in.now + int64(1+rng.IntN(30))
				case p < 93:
					in.kind, in.token, in.until = linRenew, mine.token, int64(1+rng.IntN(130))
				default:
					in.kind, in.token = linRelease, mine.token
				}
				var out linOutput
				var err error
				call := clock.Add(1)
				switch in.kind {
				case linGet:
					var info store.RunInfo
					info, err = st.Get(ctx, in.run)
					out.lastSeq = info.LastSeq
					out.lease = linLease{info.Lease.Owner, info.Lease.Token, unix(info.Lease.Expires)}
				case linRead:
					var recs []store.Record
					recs, err = st.Read(ctx, in.run, 1)
					for k, r := range recs {
						if r.Seq != uint64(k+1) {
							t.Errorf("read %s: record %d has sequence %d", in.run, k+1, r.Seq)
						}
						out.recs = append(out.recs, string(r.Data))
					}
				case linAppend:
					err = st.Append(ctx, store.Batch{RunID: in.run, Expected: in.expected,
						Records: [][]byte{[]byte(in.rec)}, Meta: store.Meta{Status: "running"}, Fence: in.fence})
				case linAcquire:
					var l store.Lease
					l, err = st.AcquireLease(ctx, in.run, owner, time.Unix(in.now, 0), time.Unix(in.until, 0))
					out.lease = linLease{l.Owner, l.Token, unix(l.Expires)}
				case linRenew:
					var l store.Lease
					l, err = st.RenewLease(ctx, in.run, store.Lease{Owner: owner, Token: in.token}, time.Unix(in.until, 0))
					out.lease = linLease{l.Owner, l.Token, unix(l.Expires)}
				case linRelease:
					err = st.ReleaseLease(ctx, in.run, store.Lease{Owner: owner, Token: in.token})
				}
				ret := clock.Add(1)
				switch {
				case err == nil:
				case errors.Is(err, store.ErrConflict):
					out.err = "conflict"
				case errors.Is(err, store.ErrLeased):
					out.err = "leased"
				default:
					t.Errorf("client %d: %v", c, err)
					return
				}
				switch {
				case in.kind == linGet && err == nil:
					seen[in.run] = out.lastSeq
				case in.kind == linAppend && err == nil:
					seen[in.run] = in.expected + 1
				case (in.kind == linAcquire || in.kind == linRenew) && err == nil:
					leases[in.run] = out.lease
				}
				history[c] = append(history[c], porcupine.Operation{
					ClientId: c, Input: in, Call: call, Output: out, Return: ret})
			}
		})
	}
	wg.Wait()
	var all []porcupine.Operation
	for _, h := range history {
		all = append(all, h...)
	}
	return all
}

// checkLinearizable checks a history; on failure it writes porcupine's
// visualization next to the test's temporary files and names it.
func checkLinearizable(t *testing.T, history []porcupine.Operation) porcupine.CheckResult {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(linModel, history, time.Minute)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("linearizability-%s.html", filepath.Base(t.Name())))
		if err := porcupine.VisualizePath(linModel, info, path); err == nil {
			t.Logf("history visualised in %s", path)
		}
	}
	return res
}

// requireVaried fails a history that did not exercise the interesting
// outcomes: appends that won and lost, leases granted and refused, and
// fenced appends that got through.
func requireVaried(t *testing.T, history []porcupine.Operation) {
	t.Helper()
	count := map[string]int{}
	for _, op := range history {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		key := fmt.Sprint(in.kind, out.err)
		if in.kind == linAppend && in.fence != 0 && out.err == "" {
			count["fenced"]++
		}
		count[key]++
	}
	for _, want := range []string{
		fmt.Sprint(linAppend, ""), fmt.Sprint(linAppend, "conflict"),
		fmt.Sprint(linAcquire, ""), fmt.Sprint(linAcquire, "leased"),
		fmt.Sprint(linRenew, ""), fmt.Sprint(linRelease, ""), "fenced",
	} {
		require.Positive(t, count[want], "no operation %q in the history: %v", want, count)
	}
}

const (
	linClients = 6
	linOps     = 300
)

func linSeeds() int {
	if testing.Short() {
		return 2
	}
	return 5
}

// TestLinearizable runs concurrent clients on Memory, on File, and on two
// opens of one File directory (the multi-process path: each change is made
// after catching up with what the other open wrote), and checks that every
// history is linearizable.
func TestLinearizable(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) []leaseStore{
		"memory": func(t *testing.T) []leaseStore { return []leaseStore{store.NewMemory(nil)} },
		"file": func(t *testing.T) []leaseStore {
			f, err := store.NewFile(t.TempDir(), nil)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, f.Close()) })
			return []leaseStore{f}
		},
		"file-two-opens": func(t *testing.T) []leaseStore {
			dir := t.TempDir()
			var out []leaseStore
			for range 2 {
				f, err := store.NewFile(dir, nil)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, f.Close()) })
				out = append(out, f)
			}
			return out
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for seed := range linSeeds() {
				history := linHistory(t, open(t), linClients, linOps, uint64(seed))
				require.Len(t, history, linClients*linOps)
				requireVaried(t, history)
				require.Equal(t, porcupine.Ok, checkLinearizable(t, history), "seed %d", seed)
			}
		})
	}
}

// staleGet is a deliberately broken store: Get sometimes serves the
// previous answer it gave for the run, as a cache that is not invalidated
// would.
type staleGet struct {
	leaseStore
	mu    sync.Mutex
	rng   *rand.Rand
	cache map[string]store.RunInfo
}

func (s *staleGet) Get(ctx context.Context, id string) (store.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info, ok := s.cache[id]; ok && s.rng.IntN(2) == 0 {
		return info, nil
	}
	info, err := s.leaseStore.Get(ctx, id)
	if err == nil {
		s.cache[id] = info
	}
	return info, err
}

// TestLinearizableFailsStaleGet proves that the check has power: a store
// whose Get can serve a stale index entry fails it.
func TestLinearizableFailsStaleGet(t *testing.T) {
	t.Parallel()
	st := &staleGet{leaseStore: store.NewMemory(nil), rng: rand.New(rand.NewPCG(1, 2)), cache: map[string]store.RunInfo{}}
	history := linHistory(t, []leaseStore{st}, linClients, linOps, 0)
	require.Equal(t, porcupine.Illegal, checkLinearizable(t, history))
}
