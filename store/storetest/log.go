package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

func (s *suite) testCreateGet(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	in := info("run-1")
	in.WakeAt = at(time.Hour)
	in.Totals = store.Totals{Steps: 1, InputTokens: 2, OutputTokens: 3, ToolCalls: 4, CostUSD: 0.125}
	// Store-owned fields are ignored.
	in.LastSeq = 99
	in.SnapshotSeq = 7
	in.Lease = store.Lease{Owner: "x", Token: 5, Expires: at(time.Hour)}
	require.NoError(t, st.Create(ctx, in, recs("r", 3)))

	want := utc(in)
	want.LastSeq = 3
	want.SnapshotSeq = 0
	want.Lease = store.Lease{}
	got := get(t, st, "run-1")
	require.Equal(t, want, got)
	require.Equal(t, time.UTC, got.CreatedAt.Location())
	require.Equal(t, []string{"r-1", "r-2", "r-3"}, readAll(t, st, "run-1"))
}

func (s *suite) testCreateExists(t *testing.T) {
	st := s.newStore(t)
	create(t, st, "run-1", recs("a", 2))
	other := info("run-1")
	other.Agent = "other"
	err := st.Create(context.Background(), other, recs("b", 1))
	require.ErrorIs(t, err, store.ErrExists)
	require.Equal(t, "agent", get(t, st, "run-1").Agent)
	require.Equal(t, []string{"a-1", "a-2"}, readAll(t, st, "run-1"))
}

func (s *suite) testCreateWithoutRecords(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", nil)
	require.Equal(t, uint64(0), get(t, st, "run-1").LastSeq)
	require.Empty(t, readAll(t, st, "run-1"))

	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 0, Records: recs("a", 2), Meta: store.Meta{Status: "running"}}))
	require.Equal(t, []string{"a-1", "a-2"}, readAll(t, st, "run-1"))
	require.Equal(t, uint64(2), get(t, st, "run-1").LastSeq)
}

func (s *suite) testReadRanges(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 2))
	// Many small batches so that a store's index has many entries.
	for i := range 50 {
		require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: uint64(2 + 2*i), Records: [][]byte{[]byte("x"), []byte("y")}}))
	}
	all := readAll(t, st, "run-1")
	require.Len(t, all, 102)
	require.Equal(t, all, readFrom(t, st, "run-1", 0), "from 0 is from 1")
	for _, from := range []uint64{1, 2, 3, 4, 51, 100, 101, 102} {
		require.Equal(t, all[from-1:], readFrom(t, st, "run-1", from), "from %d", from)
	}
	for _, from := range []uint64{103, 104, 1 << 40, ^uint64(0)} {
		rs, err := st.Read(ctx, "run-1", from)
		require.NoError(t, err, "from %d", from)
		require.Empty(t, rs, "from %d", from)
	}
}

func (s *suite) testAppendSequences(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 1))
	want := []string{"c-1"}
	last := uint64(1)
	for i, n := range []int{1, 3, 2, 5} {
		batch := recs("b"+string(rune('a'+i)), n)
		require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: last, Records: batch}))
		last += uint64(n)
		want = append(want, strs(batch)...)
		require.Equal(t, last, get(t, st, "run-1").LastSeq)
		require.Equal(t, want, readAll(t, st, "run-1"))
	}
}

func (s *suite) testAppendReplacesMeta(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	in := info("run-1")
	in.WakeAt = at(time.Minute)
	in.Totals.Steps = 4
	require.NoError(t, st.Create(ctx, in, recs("c", 1)))

	m1 := store.Meta{
		Status: "sleeping", UpdatedAt: at(time.Second), WakeAt: at(time.Hour), SnapshotSeq: 2,
		Totals: store.Totals{Steps: 2, InputTokens: 100, OutputTokens: 50, ToolCalls: 3, CostUSD: 0.015},
	}
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Records: recs("a", 2), Meta: m1}))
	got := get(t, st, "run-1")
	want := utc(in)
	want.Meta = m1
	want.LastSeq = 3
	require.Equal(t, utc(want), got)

	// The whole Meta is replaced: zero fields clear the old values.
	m2 := store.Meta{Status: "running", UpdatedAt: at(2 * time.Second)}
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 3, Records: recs("b", 1), Meta: m2}))
	got = get(t, st, "run-1")
	want.Meta = m2
	want.LastSeq = 4
	require.Equal(t, utc(want), got)
	require.True(t, got.WakeAt.IsZero())
}

func (s *suite) testAppendEmptyRecords(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 2))
	m := store.Meta{Status: "waiting", UpdatedAt: at(time.Minute), WakeAt: at(time.Hour)}
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 2, Meta: m}))
	got := get(t, st, "run-1")
	require.Equal(t, uint64(2), got.LastSeq)
	require.Equal(t, "waiting", got.Status)
	require.Equal(t, at(time.Hour).UTC(), got.WakeAt)
	require.Equal(t, []string{"c-1", "c-2"}, readAll(t, st, "run-1"))

	// An empty append still checks Expected.
	err := st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Meta: store.Meta{Status: "x"}})
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, "waiting", get(t, st, "run-1").Status)
}

func (s *suite) testAppendConflict(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "run-1", recs("c", 3))
	before := get(t, st, "run-1")
	for _, exp := range []uint64{0, 1, 2, 4, 100} {
		err := st.Append(ctx, store.Batch{RunID: "run-1", Expected: exp, Records: recs("bad", 2), Meta: store.Meta{Status: "bad"}})
		require.ErrorIs(t, err, store.ErrConflict, "expected %d", exp)
	}
	require.Equal(t, before, get(t, st, "run-1"), "nothing was written")
	require.Equal(t, []string{"c-1", "c-2", "c-3"}, readAll(t, st, "run-1"))
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 3, Records: recs("ok", 1)}))
	require.Equal(t, []string{"c-1", "c-2", "c-3", "ok-1"}, readAll(t, st, "run-1"))
}

func (s *suite) testEmptyAndBinaryRecords(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	in := [][]byte{{}, nil, binary, []byte("\x00"), bytes.Repeat([]byte{0xff}, 1000)}
	require.NoError(t, st.Create(ctx, info("run-1"), in))
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 5, Records: [][]byte{{}, binary}}))
	rs, err := st.Read(ctx, "run-1", 1)
	require.NoError(t, err)
	want := append(in, []byte{}, binary)
	require.Len(t, rs, len(want))
	for i, r := range rs {
		require.Equal(t, uint64(i+1), r.Seq)
		require.True(t, bytes.Equal(want[i], r.Data), "record %d", i+1)
	}
}

func (s *suite) testTooLarge(t *testing.T) {
	if s.opts.MaxRecordSize < 0 {
		t.Skip("record size limit not checked")
	}
	st := s.newStore(t)
	ctx := context.Background()
	big := make([]byte, s.opts.MaxRecordSize+1)
	err := st.Create(ctx, info("run-1"), [][]byte{[]byte("ok"), big})
	require.ErrorIs(t, err, store.ErrTooLarge)
	_, err = st.Get(ctx, "run-1")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing was created")

	create(t, st, "run-1", recs("c", 1))
	err = st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Records: [][]byte{[]byte("ok"), big}, Meta: store.Meta{Status: "bad"}})
	require.ErrorIs(t, err, store.ErrTooLarge)
	require.Equal(t, uint64(1), get(t, st, "run-1").LastSeq, "nothing was written")
	require.Equal(t, "pending", get(t, st, "run-1").Status)

	// A record of exactly the limit is accepted.
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Records: [][]byte{big[1:]}}))
	rs, err := st.Read(ctx, "run-1", 2)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Len(t, rs[0].Data, s.opts.MaxRecordSize)
}

func (s *suite) testAliasing(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	in := info("run-1")
	rec := []byte("create")
	require.NoError(t, st.Create(ctx, in, [][]byte{rec}))
	rec[0] = 'X'
	in.Labels["team"] = "changed"
	in.Labels["new"] = "x"

	app := []byte("append")
	require.NoError(t, st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Records: [][]byte{app}}))
	app[0] = 'X'
	require.Equal(t, []string{"create", "append"}, readAll(t, st, "run-1"))

	rs, err := st.Read(ctx, "run-1", 1)
	require.NoError(t, err)
	rs[0].Data[0] = 'Y'
	rs[1].Data = append(rs[1].Data[:1], "zzzzzzzzzz"...)
	rs[0].Data = append(rs[0].Data, "more"...)
	require.Equal(t, []string{"create", "append"}, readAll(t, st, "run-1"))

	got := get(t, st, "run-1")
	require.Equal(t, map[string]string{"team": "core"}, got.Labels)
	got.Labels["team"] = "mutated"
	require.Equal(t, map[string]string{"team": "core"}, get(t, st, "run-1").Labels)
	list, err := st.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list[0].Labels["team"] = "mutated"
	require.Equal(t, map[string]string{"team": "core"}, get(t, st, "run-1").Labels)
}

func (s *suite) testNotFound(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	create(t, st, "other", recs("c", 1))
	const id = "missing"
	err := st.Append(ctx, store.Batch{RunID: id, Expected: 0, Records: recs("a", 1)})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Read(ctx, id, 1)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Get(ctx, id)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Get(ctx, id)
	require.ErrorIs(t, err, store.ErrNotFound, "no method created the run")
}

func (s *suite) testInvalidID(t *testing.T) {
	st := s.newStore(t)
	ctx := context.Background()
	for _, id := range badIDs() {
		bad := info(id)
		require.ErrorIs(t, st.Create(ctx, bad, recs("c", 1)), store.ErrInvalidID, "Create(%q)", id)
		require.ErrorIs(t, st.Append(ctx, store.Batch{RunID: id, Records: recs("a", 1)}), store.ErrInvalidID, "Append(%q)", id)
		_, err := st.Read(ctx, id, 1)
		require.ErrorIs(t, err, store.ErrInvalidID, "Read(%q)", id)
		_, err = st.Get(ctx, id)
		require.ErrorIs(t, err, store.ErrInvalidID, "Get(%q)", id)
	}
	list, err := st.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Empty(t, list)
}

func (s *suite) testCancelledContext(t *testing.T) {
	st := s.newStore(t)
	create(t, st, "run-1", recs("c", 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := st.Create(ctx, info("run-2"), recs("c", 1))
	require.ErrorIs(t, err, context.Canceled)
	if _, gerr := st.Get(context.Background(), "run-2"); gerr == nil {
		require.Equal(t, []string{"c-1"}, readAll(t, st, "run-2"), "created whole or not at all")
	}
	err = st.Append(ctx, store.Batch{RunID: "run-1", Expected: 1, Records: recs("a", 2)})
	require.ErrorIs(t, err, context.Canceled)
	all := readAll(t, st, "run-1")
	require.Contains(t, [][]string{{"c-1"}, {"c-1", "a-1", "a-2"}}, all, "appended whole or not at all")

	_, err = st.Read(ctx, "run-1", 1)
	require.ErrorIs(t, err, context.Canceled)
	_, err = st.Get(ctx, "run-1")
	require.ErrorIs(t, err, context.Canceled)
	_, err = st.List(ctx, store.Query{})
	require.ErrorIs(t, err, context.Canceled)
}
