package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// ids returns the IDs of infos.
func ids(infos []store.RunInfo) []string {
	out := make([]string, len(infos))
	for i, ri := range infos {
		out[i] = ri.ID
	}
	return out
}

// list returns the IDs List returns for q, failing the test on error.
func list(t *testing.T, st store.Store, q store.Query) []string {
	t.Helper()
	infos, err := st.List(context.Background(), q)
	require.NoError(t, err)
	return ids(infos)
}

func (s *suite) testListOrder(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	require.Empty(t, list(t, st, store.Query{}), "empty store")
	for _, r := range []struct {
		id string
		at time.Duration
	}{{"b", 0}, {"a", 0}, {"c", time.Hour}, {"d", -time.Hour}, {"e", time.Nanosecond}} {
		in := info(r.id)
		in.CreatedAt = at(r.at)
		require.NoError(t, st.Create(ctx, in, nil))
	}
	require.Equal(t, []string{"c", "e", "a", "b", "d"}, list(t, st, store.Query{}))
	require.Equal(t, []string{"c", "e", "a"}, list(t, st, store.Query{Limit: 3}))
	require.Equal(t, []string{"c", "e", "a", "b", "d"}, list(t, st, store.Query{Limit: 10}))

	infos, err := st.List(ctx, store.Query{Limit: 1})
	require.NoError(t, err)
	want := utc(info("c"))
	want.CreatedAt = at(time.Hour).UTC()
	require.Equal(t, []store.RunInfo{want}, infos, "full entries")
}

func (s *suite) testListFilters(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	runs := []struct {
		id, agent, status string
		labels            map[string]string
		wake              time.Duration // 0: none
	}{
		{"r1", "planner", "running", map[string]string{"team": "a", "env": "prod"}, 0},
		{"r2", "planner", "sleeping", map[string]string{"team": "a"}, time.Hour},
		{"r3", "coder", "sleeping", map[string]string{"team": "b", "env": "prod"}, 2 * time.Hour},
		{"r4", "coder", "waiting", nil, 30 * time.Minute},
		{"r5", "coder", "succeeded", map[string]string{"env": "dev"}, 0},
	}
	for i, r := range runs {
		in := info(r.id)
		in.Agent = r.agent
		in.Status = r.status
		in.Labels = r.labels
		in.CreatedAt = at(time.Duration(i) * time.Second) // r5 newest
		if r.wake != 0 {
			in.WakeAt = at(r.wake)
		}
		require.NoError(t, st.Create(ctx, in, nil))
	}
	tests := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"all", store.Query{}, []string{"r5", "r4", "r3", "r2", "r1"}},
		{"status", store.Query{Statuses: []string{"sleeping"}}, []string{"r3", "r2"}},
		{"statuses", store.Query{Statuses: []string{"running", "waiting", "nope"}}, []string{"r4", "r1"}},
		{"no such status", store.Query{Statuses: []string{"nope"}}, []string{}},
		{"agent", store.Query{Agent: "planner"}, []string{"r2", "r1"}},
		{"label", store.Query{Labels: map[string]string{"env": "prod"}}, []string{"r3", "r1"}},
		{"labels", store.Query{Labels: map[string]string{"env": "prod", "team": "a"}}, []string{"r1"}},
		{"label value", store.Query{Labels: map[string]string{"team": "c"}}, []string{}},
		{"due", store.Query{DueBefore: at(time.Hour)}, []string{"r4", "r2"}},
		{"due all", store.Query{DueBefore: at(24 * time.Hour)}, []string{"r4", "r3", "r2"}},
		{"due none", store.Query{DueBefore: at(time.Minute)}, []string{}},
		{"due other zone", store.Query{DueBefore: at(time.Hour).UTC()}, []string{"r4", "r2"}},
		{"combined", store.Query{Agent: "coder", Statuses: []string{"sleeping", "waiting"}, DueBefore: at(3 * time.Hour)}, []string{"r4", "r3"}},
		{"combined limit", store.Query{Agent: "coder", Statuses: []string{"sleeping", "waiting"}, Limit: 1}, []string{"r4"}},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, list(t, st, tt.q), tt.name)
	}
}

func (s *suite) testListSeesAppends(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	create(t, st, "run-2", recs("c", 1))
	require.Equal(t, []string{"run-1", "run-2"}, list(t, st, store.Query{Statuses: []string{"pending"}}))
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-2", Expected: 1, Meta: store.Meta{Status: "sleeping", WakeAt: at(time.Minute)}}))
	require.Equal(t, []string{"run-1"}, list(t, st, store.Query{Statuses: []string{"pending"}}))
	require.Equal(t, []string{"run-2"}, list(t, st, store.Query{DueBefore: at(time.Hour)}))
	infos, err := st.List(ctx, store.Query{Statuses: []string{"sleeping"}})
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, uint64(1), infos[0].LastSeq)
}

// testListSeesLeases: List returns the run's lease as Get does.
func (s *suite) testListSeesLeases(t *testing.T) {
	st, ls := s.leaseStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	l, err := ls.AcquireLease(ctx, "run-1", "w", t0, at(time.Hour))
	require.NoError(t, err)
	infos, err := st.List(ctx, store.Query{Statuses: []string{"pending"}})
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, l, infos[0].Lease)
	require.Equal(t, l, get(t, st, "run-1").Lease)
}
