package store

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// createBody returns the frame body that creates run id without records.
func createBody(t *testing.T, id string) []byte {
	t.Helper()
	state, err := json.Marshal(newRunInfo(RunInfo{ID: id}, 0))
	require.NoError(t, err)
	return appendBody(nil, frame{kind: kindCreate, runID: id, seq: 1, state: state})
}

// buildLog writes a log of commit groups, each a list of run IDs to create,
// and returns the offsets of all frames and the log's size.
func buildLog(t *testing.T, path string, groups [][]string) ([]int64, int64) {
	t.Helper()
	buf := []byte(walMagic)
	buf = append(buf, 1, 0, 0, 0, 0, 0, 0, 0)
	var offs []int64
	for _, g := range groups {
		start := int64(len(buf))
		for _, id := range g {
			offs = append(offs, int64(len(buf)))
			body := createBody(t, id)
			buf = appendFrame(buf, start, body, crc(body))
		}
	}
	require.NoError(t, os.WriteFile(path, buf, 0o600))
	return offs, int64(len(buf))
}

// TestFileUnevenTear covers a crash that persisted later pages of the last
// group's write but not earlier ones (read back as zeros): the zeros and
// the valid frames of the same group after them are the torn tail, cut.
// A flipped bit is damage, not a tear: only the damaged frame's run is
// lost, and the frames after it, of any group, are kept. (Before damaged
// runs, a flip in the last group cut the rest of the group, and a flip in
// an earlier group made the whole store unopenable.)
func TestFileUnevenTear(t *testing.T) {
	t.Parallel()
	groups := [][]string{{"a1", "a2"}, {"b1", "b2", "b3"}}
	tests := []struct {
		name   string
		damage int  // index of the damaged frame
		zero   bool // zeroed (a torn page) rather than a flipped bit
		cut    bool // a torn tail, cut at the damaged frame
		keep   []string
	}{
		{"zeros, first of last group", 2, true, true, []string{"a1", "a2"}},
		{"zeros, middle of last group", 3, true, true, []string{"a1", "a2", "b1"}},
		{"zeros, earlier group", 1, true, false, []string{"a1", "b1", "b2", "b3"}},
		{"flip, first of last group", 2, false, false, []string{"a1", "a2", "b2", "b3"}},
		{"flip, middle of last group", 3, false, false, []string{"a1", "a2", "b1", "b3"}},
		{"flip, last of last group", 4, false, true, []string{"a1", "a2", "b1", "b2"}},
		{"flip, earlier group", 1, false, false, []string{"a1", "b1", "b2", "b3"}},
		{"flip, first frame", 0, false, false, []string{"a2", "b1", "b2", "b3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, FileLogName)
			offs, size := buildLog(t, path, groups)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			next := size
			if tt.damage+1 < len(offs) {
				next = offs[tt.damage+1]
			}
			if tt.zero {
				clear(data[offs[tt.damage]:next])
			} else {
				data[offs[tt.damage]+frameHeaderSize+3] ^= 0x40
			}
			require.NoError(t, os.WriteFile(path, data, 0o600))

			var recs []Recovery
			f, err := NewFile(dir, &FileOptions{noSync: true, OnRecover: func(r Recovery) { recs = append(recs, r) }})
			require.NoError(t, err)
			defer f.Close()
			if tt.cut {
				require.Len(t, recs, 1)
				require.Equal(t, offs[tt.damage], recs[0].Offset)
				require.Equal(t, size-offs[tt.damage], recs[0].Cut)
				require.Empty(t, f.Damage())
			} else {
				require.Empty(t, recs)
				dmg := f.Damage()
				require.Len(t, dmg, 1)
				require.Equal(t, offs[tt.damage], dmg[0].Offset)
				require.Equal(t, next-offs[tt.damage], dmg[0].Size)
				got, err := os.ReadFile(path)
				require.NoError(t, err)
				require.Equal(t, data, got, "damage is left in place")
			}
			infos, err := f.List(context.Background(), Query{})
			require.NoError(t, err)
			var ids []string
			for _, ri := range infos {
				ids = append(ids, ri.ID)
			}
			require.ElementsMatch(t, tt.keep, ids)
		})
	}
}

// BenchmarkFileAppendNoSync measures the CPU cost of an append (one step
// checkpoint) without the fsync: encoding, locking, writing, indexing.
func BenchmarkFileAppendNoSync(b *testing.B) {
	f, err := NewFile(b.TempDir(), &FileOptions{noSync: true})
	require.NoError(b, err)
	defer f.Close()
	ctx := context.Background()
	require.NoError(b, f.Create(ctx, RunInfo{ID: "run"}, nil))
	recs := [][]byte{make([]byte, 400), make([]byte, 400), make([]byte, 400)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := f.Append(ctx, Batch{RunID: "run", Expected: uint64(3 * i), Records: recs, Meta: Meta{Status: "running"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFileCancelWhileQueued cancels an append that waits behind a group
// commit in progress: it returns the context's error and is never written,
// while the requests around it are, and leadership passes on.
func TestFileCancelWhileQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, err := NewFile(t.TempDir(), &FileOptions{noSync: true})
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Create(ctx, RunInfo{ID: "r"}, nil))

	queued := func(n int) {
		require.Eventually(t, func() bool {
			f.qmu.Lock()
			defer f.qmu.Unlock()
			return len(f.queue) == n
		}, 5*time.Second, time.Millisecond)
	}
	require.NoError(t, f.ioMu.Lock(ctx)) // a commit in progress
	errA := make(chan error, 1)
	go func() { // leads the next group, which waits for ioMu
		errA <- f.Append(ctx, Batch{RunID: "r", Expected: 0, Records: [][]byte{[]byte("a")}})
	}()
	require.Eventually(t, func() bool {
		f.qmu.Lock()
		defer f.qmu.Unlock()
		return f.leading && len(f.queue) == 0
	}, 5*time.Second, time.Millisecond)

	cctx, cancel := context.WithCancel(ctx)
	errB := make(chan error, 1)
	go func() {
		errB <- f.Append(cctx, Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("b")}})
	}()
	queued(1)
	errC := make(chan error, 1)
	go func() {
		errC <- f.Append(ctx, Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("c")}})
	}()
	queued(2)
	cancel()
	require.ErrorIs(t, <-errB, context.Canceled)

	f.ioMu.Unlock()
	require.NoError(t, <-errA)
	require.NoError(t, <-errC, "promoted past the cancelled request")
	rs, err := f.Read(ctx, "r", 1)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, "a", string(rs[0].Data))
	require.Equal(t, "c", string(rs[1].Data))
	f.qmu.Lock()
	require.False(t, f.leading)
	require.Empty(t, f.queue)
	f.qmu.Unlock()
}

// TestFileReadVerifiesChecksums damages a frame of an open store: Read
// reports ErrCorrupt instead of returning the damaged record.
func TestFileReadVerifiesChecksums(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	f, err := NewFile(dir, &FileOptions{noSync: true})
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Create(ctx, RunInfo{ID: "r"}, [][]byte{[]byte("one")}))
	require.NoError(t, f.Append(ctx, Batch{RunID: "r", Expected: 1, Records: [][]byte{[]byte("two")}}))
	f.mu.RLock()
	e := f.runs["r"].entries[1]
	f.mu.RUnlock()

	w, err := os.OpenFile(filepath.Join(dir, FileLogName), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = w.WriteAt([]byte("X"), e.off+int64(e.size)-2)
	require.NoError(t, err)
	require.NoError(t, w.Close())

	_, err = f.Read(ctx, "r", 2)
	require.ErrorIs(t, err, ErrCorrupt)
	rs, err := f.Read(ctx, "r", 1)
	require.ErrorIs(t, err, ErrDamaged, "from 1 reads the damaged frame too")
	require.Equal(t, []Record{{Seq: 1, Data: []byte("one")}}, rs, "the records before the damage")
	_, err = f.Get(ctx, "r")
	require.ErrorIs(t, err, ErrDamaged)
	require.ErrorIs(t, f.Append(ctx, Batch{RunID: "r", Expected: 2}), ErrDamaged)
}
