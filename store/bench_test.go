package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// A step checkpoint as an agent runtime writes one: three records (model
// response, tool started, tool finished) of about 400 bytes each.
const (
	stepRecords    = 3
	stepRecordSize = 400
)

// stepBatch returns the checkpoint of one step of run id after last.
func stepBatch(id string, last uint64) store.Batch {
	recs := make([][]byte, stepRecords)
	for i := range recs {
		recs[i] = make([]byte, stepRecordSize)
		copy(recs[i], fmt.Sprintf(`{"v":1,"kind":"step","seq":%d}`, last+uint64(i)+1))
	}
	return store.Batch{RunID: id, Expected: last, Records: recs, Meta: store.Meta{
		Status: "running", UpdatedAt: time.Unix(1_700_000_000, 0), SnapshotSeq: last,
		Totals: store.Totals{Steps: int64(last / stepRecords), InputTokens: 1234, OutputTokens: 567, ToolCalls: 8, CostUSD: 0.0123},
	}}
}

// BenchmarkFileAppend measures one durable step checkpoint appended to a
// run that already has a history of steps: the cost must not grow with it.
func BenchmarkFileAppend(b *testing.B) {
	for _, history := range []int{10, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			ctx := context.Background()
			f := openFile(b, b.TempDir(), nil)
			require.NoError(b, f.Create(ctx, store.RunInfo{ID: "run"}, nil))
			last := uint64(0)
			for range history {
				require.NoError(b, f.Append(ctx, stepBatch("run", last)))
				last += stepRecords
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := f.Append(ctx, stepBatch("run", last)); err != nil {
					b.Fatal(err)
				}
				last += stepRecords
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ckpt/s")
		})
	}
}

// BenchmarkFileReadTail measures reading the last step of a run with a
// history of steps, as a resume from a recent snapshot does: the cost must
// not grow with the history.
func BenchmarkFileReadTail(b *testing.B) {
	for _, history := range []int{10, 1000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			ctx := context.Background()
			f := openFile(b, b.TempDir(), nil)
			require.NoError(b, f.Create(ctx, store.RunInfo{ID: "run"}, nil))
			last := uint64(0)
			for range history {
				require.NoError(b, f.Append(ctx, stepBatch("run", last)))
				last += stepRecords
			}
			from := last - stepRecords + 1
			b.ReportAllocs()
			for b.Loop() {
				rs, err := f.Read(ctx, "run", from)
				if err != nil || len(rs) != stepRecords {
					b.Fatal(len(rs), err)
				}
			}
		})
	}
}

// BenchmarkFileOpen measures opening a store whose log holds one run of
// 1,000 steps (3 records of 400 bytes each) with a 256 KB snapshot record
// every 256 records, as a resume does before it reads anything: from the
// index checkpoint, and reading the whole log (VerifyLog).
func BenchmarkFileOpen(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	f, err := store.NewFile(dir, nil)
	require.NoError(b, err)
	require.NoError(b, f.Create(ctx, store.RunInfo{ID: "run"}, nil))
	last := uint64(0)
	snapshot := make([]byte, 256<<10)
	for range 1000 {
		batch := stepBatch("run", last)
		if last%256 > (last+stepRecords)%256 {
			batch.Records = append(batch.Records, snapshot)
		}
		require.NoError(b, f.Append(ctx, batch))
		last += uint64(len(batch.Records))
	}
	require.NoError(b, f.Close())
	for _, verify := range []bool{false, true} {
		name := "checkpoint"
		if verify {
			name = "verify-log"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(logSize(b, dir))
			b.ReportAllocs()
			for b.Loop() {
				f, err := store.NewFile(dir, &store.FileOptions{VerifyLog: verify})
				if err != nil {
					b.Fatal(err)
				}
				_ = f.Close()
			}
		})
	}
}

// BenchmarkFsyncFloor measures what BenchmarkFileAppend cannot beat: one
// write and fsync of the same number of bytes to a plain file.
func BenchmarkFsyncFloor(b *testing.B) {
	// The size of one step's frame in the File store's log.
	dir := b.TempDir()
	f := openFile(b, dir, nil)
	ctx := context.Background()
	require.NoError(b, f.Create(ctx, store.RunInfo{ID: "run"}, nil))
	mid := logSize(b, dir)
	require.NoError(b, f.Append(ctx, stepBatch("run", 0)))
	frame := make([]byte, logSize(b, dir)-mid)

	plain, err := os.OpenFile(filepath.Join(dir, "plain"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(b, err)
	defer plain.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for range b.N {
		if _, err := plain.Write(frame); err != nil {
			b.Fatal(err)
		}
		if err := plain.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ckpt/s")
}

// BenchmarkFileAppendVsFloor alternates one BenchmarkFileAppend step (on a
// run with 1,000 steps) with one BenchmarkFsyncFloor write, so that both see
// the same disk, and reports their mean times and ratio; on a shared, noisy
// disk the ratio is steadier than two separate benchmarks.
func BenchmarkFileAppendVsFloor(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	f := openFile(b, dir, nil)
	require.NoError(b, f.Create(ctx, store.RunInfo{ID: "run"}, nil))
	last := uint64(0)
	for range 1000 {
		require.NoError(b, f.Append(ctx, stepBatch("run", last)))
		last += stepRecords
	}
	before := logSize(b, dir)
	require.NoError(b, f.Append(ctx, stepBatch("run", last)))
	last += stepRecords
	frame := make([]byte, logSize(b, dir)-before)
	plain, err := os.OpenFile(filepath.Join(dir, "plain"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(b, err)
	defer plain.Close()

	var appendTime, floorTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := f.Append(ctx, stepBatch("run", last)); err != nil {
			b.Fatal(err)
		}
		last += stepRecords
		mid := time.Now()
		if _, err := plain.Write(frame); err != nil {
			b.Fatal(err)
		}
		if err := plain.Sync(); err != nil {
			b.Fatal(err)
		}
		appendTime += mid.Sub(start)
		floorTime += time.Since(mid)
	}
	b.ReportMetric(float64(appendTime.Microseconds())/float64(b.N), "append-µs")
	b.ReportMetric(float64(floorTime.Microseconds())/float64(b.N), "floor-µs")
	b.ReportMetric(float64(appendTime)/float64(floorTime), "ratio")
}

// BenchmarkFileAppendConcurrent measures durable step checkpoints per second
// with 1,000 runs appending at once, each from its own goroutine.
func BenchmarkFileAppendConcurrent(b *testing.B) {
	const runs = 1000
	ctx := context.Background()
	f := openFile(b, b.TempDir(), nil)
	for i := range runs {
		require.NoError(b, f.Create(ctx, store.RunInfo{ID: fmt.Sprintf("run-%d", i)}, nil))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((runs + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("run-%d", next.Add(1)-1)
		ri, err := f.Get(ctx, id)
		if err != nil {
			b.Error(err)
			return
		}
		last := ri.LastSeq
		for pb.Next() {
			if err := f.Append(ctx, stepBatch(id, last)); err != nil {
				b.Error(err)
				return
			}
			last += stepRecords
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ckpt/s")
}

// logSize returns the size of the File store's log in dir.
func logSize(b *testing.B, dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, store.FileLogName))
	require.NoError(b, err)
	return fi.Size()
}
