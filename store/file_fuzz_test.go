package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzFrames splits data into frames for FuzzDecodeFrames: the first byte
// (mod 8) is the number of frames, the rest is dealt out as their records.
func fuzzFrames(data []byte) []frame {
	if len(data) == 0 {
		return nil
	}
	n := int(data[0] % 8)
	rest := data[1:]
	frames := make([]frame, n)
	for i := range frames {
		fr := frame{kind: frameKind(1 + i%3), runID: fmt.Sprintf("run-%d", i), seq: uint64(i) * 7, state: []byte(`{"i":1}`)}
		for j := 0; j < i%4 && len(rest) > 0; j++ {
			k := min(len(rest), int(rest[0])%32)
			fr.records = append(fr.records, rest[:k:k])
			rest = rest[k:]
		}
		frames[i] = fr
	}
	return frames
}

// encodeFrames encodes frames back to back, as one commit group at 0, and
// returns the encoding and each frame's end offset.
func encodeFrames(frames []frame) ([]byte, []int) {
	var buf []byte
	var ends []int
	for _, fr := range frames {
		body := appendBody(nil, fr)
		buf = appendFrame(buf, 0, body, crc(body))
		ends = append(ends, len(buf))
	}
	return buf, ends
}

// requireFramesEqual requires got to decode to want, record by record.
func requireFramesEqual(t *testing.T, want, got []frame) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].kind, got[i].kind)
		require.Equal(t, want[i].runID, got[i].runID)
		require.Equal(t, want[i].seq, got[i].seq)
		require.Equal(t, want[i].state, got[i].state)
		require.Len(t, got[i].records, len(want[i].records))
		for j := range want[i].records {
			require.True(t, bytes.Equal(want[i].records[j], got[i].records[j]))
		}
	}
}

// FuzzDecodeFrames checks the frame decoder: arbitrary bytes never panic;
// frames encoded from the input decode back to themselves; and a truncated
// or bit-flipped encoding decodes to exactly the frames before the damage.
func FuzzDecodeFrames(f *testing.F) {
	enc, _ := encodeFrames(fuzzFrames([]byte("\x05hello world, these are records")))
	f.Add([]byte{}, uint32(0))
	f.Add([]byte("\x03abc"), uint32(1))
	f.Add([]byte("\x07\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"), uint32(1000))
	f.Add(enc, uint32(77))
	f.Add(enc[:len(enc)/2], uint32(5))
	f.Fuzz(func(t *testing.T, data []byte, pos uint32) {
		// Arbitrary bytes: no panic, a consistent answer.
		got, n, err := decodeFrames(data)
		require.LessOrEqual(t, n, len(data))
		require.Equal(t, n == len(data), err == nil)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		}
		again, _, _ := decodeFrames(data[:n])
		require.Len(t, again, len(got))
		_, _ = decodeBody(data)

		// Round trip.
		want := fuzzFrames(data)
		enc, ends := encodeFrames(want)
		got, n, err = decodeFrames(enc)
		require.NoError(t, err)
		require.Equal(t, len(enc), n)
		requireFramesEqual(t, want, got)
		if len(enc) == 0 {
			return
		}

		// Truncation: exactly the frames that end by the cut.
		cut := int(pos % uint32(len(enc)))
		keep := 0
		for keep < len(ends) && ends[keep] <= cut {
			keep++
		}
		got, n, err = decodeFrames(enc[:cut])
		requireFramesEqual(t, want[:keep], got)
		require.Equal(t, cut == n, err == nil)
		if keep > 0 {
			require.Equal(t, ends[keep-1], n)
		}

		// A flipped bit: exactly the frames before the damaged one.
		bad := append([]byte(nil), enc...)
		bad[cut] ^= 1 << (pos % 8)
		got, _, err = decodeFrames(bad)
		require.ErrorIs(t, err, ErrCorrupt)
		requireFramesEqual(t, want[:keep], got)
	})
}

// FuzzTornTail builds a log from ops, cuts it at an arbitrary offset,
// appends garbage, and reopens it: the store must open with exactly the
// changes whose frames ended before the cut (compared with a Memory store
// that replays them), report the cut, and stay appendable.
func FuzzTornTail(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 5, 9}, uint32(100), []byte{})
	f.Add([]byte{0, 4, 8, 1, 5, 17, 33, 3, 7}, uint32(0), []byte("garbage"))
	f.Add([]byte{0, 0, 1, 1, 1, 1}, uint32(1<<31), make([]byte, 512))
	f.Add([]byte{0, 1, 2}, uint32(57), []byte{0xc3, 0x52, 0xa7, 0x1e, 0x10, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte, cut uint32, garbage []byte) {
		if len(ops) > 32 || len(garbage) > 4096 {
			t.Skip()
		}
		ctx := context.Background()
		dir := t.TempDir()
		path := filepath.Join(dir, FileLogName)
		opts := &FileOptions{noSync: true}
		fs, err := NewFile(dir, opts)
		require.NoError(t, err)
		// Apply ops, remembering the log size after each.
		type done struct {
			op  byte
			end int64
		}
		var applied []done
		for _, op := range ops {
			if err := fuzzOp(ctx, fs, op); err == nil {
				applied = append(applied, done{op, fileSize(t, path)})
			}
		}
		require.NoError(t, fs.Close())

		// A torn tail is never covered by a checkpoint (which covers only
		// acknowledged frames): one would prove the cut bytes were
		// acknowledged, and the open would fail.
		require.NoError(t, os.Remove(filepath.Join(dir, FileIndexName)))
		size := fileSize(t, path)
		cutAt := walHeaderSize + int64(cut)%(size-walHeaderSize+1)
		require.NoError(t, os.Truncate(path, cutAt))
		if len(garbage) > 0 {
			lf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = lf.Write(garbage)
			require.NoError(t, err)
			require.NoError(t, lf.Close())
		}

		var recs []Recovery
		opts.OnRecover = func(r Recovery) { recs = append(recs, r) }
		fs, err = NewFile(dir, opts)
		var magic [4]byte
		binary.LittleEndian.PutUint32(magic[:], frameMagic)
		require.NoError(t, err)
		defer fs.Close()
		if len(fs.Damage()) > 0 && bytes.Contains(garbage, magic[:]) {
			return // the garbage may hold what looks like a later frame
		}

		want := NewMemory(nil)
		var kept int64 = walHeaderSize
		for _, d := range applied {
			if d.end <= cutAt {
				require.NoError(t, fuzzOp(ctx, want, d.op))
				kept = d.end
			}
		}
		if kept == cutAt+int64(len(garbage)) {
			require.Empty(t, recs)
		} else {
			require.Len(t, recs, 1)
			require.Equal(t, Recovery{Path: path, Offset: kept, Cut: cutAt + int64(len(garbage)) - kept, Reason: recs[0].Reason}, recs[0])
		}
		requireSameStores(t, want, fs)

		// Appendable, and clean on the next open.
		require.NoError(t, fs.Create(ctx, RunInfo{ID: "after"}, [][]byte{[]byte("x")}))
		require.NoError(t, fs.Close())
		recs = nil
		fs, err = NewFile(dir, opts)
		require.NoError(t, err)
		require.Empty(t, recs)
		require.NoError(t, want.Create(ctx, RunInfo{ID: "after"}, [][]byte{[]byte("x")}))
		requireSameStores(t, want, fs)
	})
}

// fuzzOp applies the change op encodes to s: op%4 picks create, append
// (twice as likely) or lease; the next bits pick one of four runs and a
// record count.
func fuzzOp(ctx context.Context, s interface {
	Store
	Leaser
}, op byte) error {
	id := fmt.Sprintf("r%d", (op>>2)%4)
	n := int(op>>4) % 4
	records := make([][]byte, n)
	for i := range records {
		records[i] = bytes.Repeat([]byte{op}, int(op)%50+i)
	}
	switch op % 4 {
	case 0:
		return s.Create(ctx, RunInfo{ID: id, Agent: "a", Labels: map[string]string{"op": fmt.Sprint(op)}}, records)
	case 1, 2:
		ri, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		return s.Append(ctx, Batch{RunID: id, Expected: ri.LastSeq, Records: records, Meta: Meta{Status: fmt.Sprint(op)}})
	default:
		_, err := s.AcquireLease(ctx, id, fmt.Sprint(op), time.Time{}, time.Time{})
		return err
	}
}

// requireSameStores requires want and got to hold the same runs and records.
func requireSameStores(t *testing.T, want, got Store) {
	t.Helper()
	ctx := context.Background()
	lw, err := want.List(ctx, Query{})
	require.NoError(t, err)
	lg, err := got.List(ctx, Query{})
	require.NoError(t, err)
	require.Equal(t, lw, lg)
	for _, ri := range lw {
		rw, err := want.Read(ctx, ri.ID, 1)
		require.NoError(t, err)
		rg, err := got.Read(ctx, ri.ID, 1)
		require.NoError(t, err)
		require.Equal(t, rw, rg)
	}
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}
