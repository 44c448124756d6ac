package store

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// When a run's status changes (it comes to rest, say), a Memory store
// packs its records into one allocation of their exact size if its chunks'
// unused room is more than a quarter of their size (a short run, the usual
// case), so that a resting run keeps no slack. Its records read back the
// same; later appends go on in a new chunk.
func TestMemoryPacksARunWhoseStatusChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMemory(nil)
	require.NoError(t, m.Create(ctx, RunInfo{ID: "r", Agent: "a", Meta: Meta{Status: "running"}}, [][]byte{[]byte("first")}))
	want := []string{"first"}
	seq := uint64(1)
	appendN := func(n, size int, status string) {
		for range n {
			rec := fmt.Sprintf(`{"record":%d,"pad":"%0*d"}`, seq, size, 0)
			require.NoError(t, m.Append(ctx, Batch{RunID: "r", Expected: seq, Records: [][]byte{[]byte(rec)}, Meta: Meta{Status: status}}))
			want = append(want, rec)
			seq++
		}
	}
	check := func() {
		t.Helper()
		recs, err := m.Read(ctx, "r", 1)
		require.NoError(t, err)
		require.Len(t, recs, len(want))
		for i, r := range recs {
			require.Equal(t, want[i], string(r.Data))
		}
	}
	run, err := m.run("read", "r")
	require.NoError(t, err)
	// packed reports whether the records are one allocation of their size;
	// room is the unused room of the current chunk.
	state := func() (packed bool, room, size int) {
		run.mu.Lock()
		defer run.mu.Unlock()
		packed = run.tail == nil && cap(run.records) == len(run.records)
		var end uintptr // where the previous record ends
		for i, r := range run.records {
			size += len(r)
			at := uintptr(unsafe.Pointer(unsafe.SliceData(r)))
			if i > 0 && at != end {
				packed = false // not one contiguous allocation
			}
			end = at + uintptr(len(r))
		}
		return packed, cap(run.tail), size
	}

	appendN(3, 20, "running")
	check()
	packed, room, _ := state()
	require.False(t, packed, "a running run's records go to chunks")
	require.Positive(t, room)
	appendN(1, 20, "paused")
	check()
	packed, _, _ = state()
	require.True(t, packed, "a short run that came to rest is packed")

	appendN(200, 200, "running") // a long run: new chunks, doubling
	check()
	packed, _, _ = state()
	require.False(t, packed)
	appendN(1, 200, "succeeded")
	check()
	packed, room, size := state()
	require.True(t, packed || room*4 <= size, "unpacked only when the room is at most a quarter: %d of %d", room, size)
}
