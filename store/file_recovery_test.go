package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// fileBundle is a File store's directory plus the recoveries reported by
// the stores opened on it.
type fileBundle struct {
	dir  string
	path string

	mu   sync.Mutex
	recs []store.Recovery
}

// setupFile returns a bundle over a new directory.
func setupFile(t *testing.T) *fileBundle {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	return &fileBundle{dir: dir, path: filepath.Join(dir, store.FileLogName)}
}

// open opens a store on the bundle's directory, recording recoveries.
func (b *fileBundle) open(t *testing.T) *store.File {
	t.Helper()
	f, err := b.tryOpen()
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// tryOpen opens a store on the bundle's directory, recording recoveries.
func (b *fileBundle) tryOpen() (*store.File, error) {
	return store.NewFile(b.dir, &store.FileOptions{OnRecover: func(r store.Recovery) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.recs = append(b.recs, r)
	}})
}

// takeRecoveries returns and forgets the recoveries reported so far.
func (b *fileBundle) takeRecoveries() []store.Recovery {
	b.mu.Lock()
	defer b.mu.Unlock()
	recs := b.recs
	b.recs = nil
	return recs
}

// size returns the log's size.
func (b *fileBundle) size(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(b.path)
	require.NoError(t, err)
	return fi.Size()
}

// writeLog replaces the log's content and removes the index checkpoint,
// as after a crash that tore the log's tail: a checkpoint covers only
// acknowledged frames, so one covering the tail would prove its bytes
// were acknowledged (see TestFileTruncatedLogIsCorrupt).
func (b *fileBundle) writeLog(t *testing.T, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(b.path, data, 0o600))
	require.NoError(t, os.RemoveAll(filepath.Join(b.dir, store.FileIndexName)))
}

// readLog returns the log's content.
func (b *fileBundle) readLog(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(b.path)
	require.NoError(t, err)
	return data
}

// fill creates run "r" and appends batches to it, one frame each, and
// returns the log's size before each frame (and after the last) and the
// records in order.
func fill(t *testing.T, b *fileBundle, batches int) (offsets []int64, records []string) {
	t.Helper()
	ctx := context.Background()
	f := b.open(t)
	offsets = append(offsets, b.size(t))
	info := store.RunInfo{ID: "r", Agent: "a", CreatedAt: time.Unix(1, 0)}
	require.NoError(t, f.Create(ctx, info, [][]byte{[]byte("c1"), []byte("c2")}))
	records = []string{"c1", "c2"}
	offsets = append(offsets, b.size(t))
	for i := range batches {
		batch := [][]byte{fmt.Appendf(nil, "b%d-1", i), fmt.Appendf(nil, "b%d-2", i)}
		err := f.Append(ctx, store.Batch{RunID: "r", Expected: uint64(len(records)), Records: batch, Meta: store.Meta{Status: fmt.Sprint(i)}})
		require.NoError(t, err)
		records = append(records, string(batch[0]), string(batch[1]))
		offsets = append(offsets, b.size(t))
	}
	require.NoError(t, f.Close())
	return offsets, records
}

// records returns run r's records as strings.
func records(t *testing.T, f *store.File, id string) []string {
	t.Helper()
	rs, err := f.Read(context.Background(), id, 1)
	require.NoError(t, err)
	out := make([]string, len(rs))
	for i, r := range rs {
		require.Equal(t, uint64(i+1), r.Seq)
		out[i] = string(r.Data)
	}
	return out
}

func TestFileTornTailEveryOffset(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	offsets, all := fill(t, b, 3)
	data := b.readLog(t)
	lastStart, size := offsets[len(offsets)-2], offsets[len(offsets)-1]
	require.Equal(t, size, int64(len(data)))
	kept := all[:len(all)-2]

	for cut := lastStart; cut < size; cut++ {
		b.writeLog(t, data[:cut])
		f := b.open(t)
		recs := b.takeRecoveries()
		if cut == lastStart {
			require.Empty(t, recs, "cut at a frame boundary is a clean end")
		} else {
			require.Len(t, recs, 1, "cut at %d", cut)
			require.Equal(t, lastStart, recs[0].Offset, "cut at %d", cut)
			require.Equal(t, cut-lastStart, recs[0].Cut, "cut at %d", cut)
			require.Equal(t, b.path, recs[0].Path)
			require.NotEmpty(t, recs[0].Reason)
		}
		require.Equal(t, lastStart, b.size(t), "torn tail truncated")
		require.Equal(t, kept, records(t, f, "r"))
		ri, err := f.Get(context.Background(), "r")
		require.NoError(t, err)
		require.Equal(t, uint64(len(kept)), ri.LastSeq)
		require.Equal(t, "1", ri.Status, "meta of the lost batch is lost with it")

		// Appendable, and the append survives a reopen.
		require.NoError(t, f.Append(context.Background(), store.Batch{RunID: "r", Expected: ri.LastSeq, Records: [][]byte{[]byte("new")}}))
		require.NoError(t, f.Close())
		f = b.open(t)
		require.Empty(t, b.takeRecoveries())
		require.Equal(t, append(kept[:len(kept):len(kept)], "new"), records(t, f, "r"))
		require.NoError(t, f.Close())
	}
}

func TestFileFlippedBitInTail(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	offsets, all := fill(t, b, 2)
	data := b.readLog(t)
	lastStart, size := offsets[len(offsets)-2], offsets[len(offsets)-1]
	for i := lastStart; i < size; i++ {
		bad := append([]byte(nil), data...)
		bad[i] ^= 1 << (i % 8)
		b.writeLog(t, bad)
		f := b.open(t)
		recs := b.takeRecoveries()
		require.Len(t, recs, 1, "flip at %d", i)
		require.Equal(t, store.Recovery{Path: b.path, Offset: lastStart, Cut: size - lastStart, Reason: recs[0].Reason}, recs[0])
		require.Equal(t, all[:len(all)-2], records(t, f, "r"))
		require.NoError(t, f.Close())
	}
}

// TestFileFlippedBitInMiddle flips every bit position of every frame but
// the last: the store opens (it failed to open before damaged runs), the
// run is damaged, and the log is left as it is. A flip in the log's own
// header still makes the store unopenable.
func TestFileFlippedBitInMiddle(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	offsets, _ := fill(t, b, 2)
	data := b.readLog(t)
	for i := int64(0); i < offsets[len(offsets)-2]; i++ {
		bad := append([]byte(nil), data...)
		bad[i] ^= 1 << (i % 8)
		b.writeLog(t, bad)
		f, err := b.tryOpen()
		if i < offsets[0] {
			require.ErrorIs(t, err, store.ErrCorrupt, "flip at %d", i)
			continue
		}
		require.NoError(t, err, "flip at %d", i)
		require.Empty(t, b.takeRecoveries())
		require.NotEmpty(t, f.Damage(), "flip at %d", i)
		_, err = f.Get(context.Background(), "r")
		require.ErrorIs(t, err, store.ErrDamaged, "flip at %d", i)
		require.ErrorIs(t, err, store.ErrCorrupt)
		require.NoError(t, f.Close())
		require.Equal(t, bad, b.readLog(t), "a damaged log is left as it is")
	}
}

func TestFileGarbageTail(t *testing.T) {
	t.Parallel()
	for name, tail := range map[string][]byte{
		"zeros":   make([]byte, 4096),
		"one":     {0xc3},
		"magic":   {0xc3, 0x52, 0xa7, 0x1e, 1, 2, 3},
		"garbage": []byte("this is not a frame, just some text that a crash left behind"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupFile(t)
			offsets, all := fill(t, b, 1)
			size := offsets[len(offsets)-1]
			b.writeLog(t, append(b.readLog(t), tail...))
			f := b.open(t)
			recs := b.takeRecoveries()
			require.Len(t, recs, 1)
			require.Equal(t, size, recs[0].Offset)
			require.Equal(t, int64(len(tail)), recs[0].Cut)
			require.Equal(t, all, records(t, f, "r"))
		})
	}
}

func TestFileBadHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content []byte
		err     error // nil: opens, with a recovery if torn
		torn    bool
	}{
		{name: "empty", content: []byte{}},
		{name: "torn header", content: []byte("RTCHT"), torn: true},
		{name: "not a log", content: []byte("hello, world, this is a text file\n")},
		{name: "other prefix", content: []byte("RTCX"), err: store.ErrCorrupt},
		{name: "future version", content: []byte("RTCHTWAL\x09\x00\x00\x00\x00\x00\x00\x00"), err: store.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupFile(t)
			require.NoError(t, os.MkdirAll(b.dir, 0o700))
			b.writeLog(t, tt.content)
			f, err := b.tryOpen()
			if tt.name == "not a log" {
				require.ErrorIs(t, err, store.ErrCorrupt)
				return
			}
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			defer f.Close()
			require.Equal(t, tt.torn, len(b.takeRecoveries()) == 1)
			require.NoError(t, f.Create(context.Background(), store.RunInfo{ID: "r"}, nil))
		})
	}
}
