package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

func (s *suite) testConcurrentSameExpected(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 2))
	const writers = 32
	errs := make([]error, writers)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range writers {
		wg.Go(func() {
			start.Wait()
			errs[i] = st.Append(ctx, store.Batch{
				RunID: "run-1", Expected: 2, Records: recs(fmt.Sprintf("w%d", i), 3),
				Meta: store.Meta{Status: fmt.Sprintf("w%d", i)},
			})
		})
	}
	start.Done()
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "writers %d and %d both won", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, store.ErrConflict, "writer %d", i)
	}
	require.NotEqual(t, -1, winner, "somebody wins")
	w := fmt.Sprintf("w%d", winner)
	got := get(t, st, "run-1")
	require.Equal(t, uint64(5), got.LastSeq)
	require.Equal(t, w, got.Status)
	require.Equal(t, append([]string{"c-1", "c-2"}, strs(recs(w, 3))...), readAll(t, st, "run-1"))
}

func (s *suite) testConcurrentRetryLoops(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", nil)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < each; {
				ri, err := st.Get(ctx, "run-1")
				if !assertNoError(t, err) {
					return
				}
				err = st.Append(ctx, store.Batch{RunID: "run-1", Expected: ri.LastSeq, Records: [][]byte{fmt.Appendf(nil, "%d/%d", w, i)}})
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if !assertNoError(t, err) {
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	all := readAll(t, st, "run-1")
	require.Len(t, all, writers*each)
	next := make([]int, writers)
	for _, r := range all {
		var w, i int
		_, err := fmt.Sscanf(r, "%d/%d", &w, &i)
		require.NoError(t, err)
		require.Equal(t, next[w], i, "writer %d's records in order, each once", w)
		next[w]++
	}
}

func (s *suite) testConcurrentRuns(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	const runs, steps = 16, 8
	var wg sync.WaitGroup
	for r := range runs {
		wg.Go(func() {
			id := fmt.Sprintf("run-%d", r)
			if !assertNoError(t, st.Create(ctx, info(id), recs(id, 1))) {
				return
			}
			for i := range steps {
				err := st.Append(ctx, store.Batch{RunID: id, Expected: uint64(1 + 2*i), Records: recs(id, 2), Meta: store.Meta{Status: "running"}})
				if !assertNoError(t, err) {
					return
				}
				_, err = st.Read(ctx, id, uint64(i))
				if !assertNoError(t, err) {
					return
				}
				_, err = st.List(ctx, store.Query{Limit: 3})
				if !assertNoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	infos, err := st.List(ctx, store.Query{Statuses: []string{"running"}})
	require.NoError(t, err)
	require.Len(t, infos, runs)
	for _, ri := range infos {
		require.Equal(t, uint64(1+2*steps), ri.LastSeq, ri.ID)
		require.Len(t, readAll(t, st, ri.ID), 1+2*steps, ri.ID)
	}
}

// assertNoError reports err as a test error (from any goroutine) and
// whether it was nil.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}
