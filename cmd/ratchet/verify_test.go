package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// cli runs the program and returns its exit code, stdout and stderr.
func cli(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// damagedStore makes a closed store in a new directory with runs "good"
// and "bad", "bad" damaged after its first record, and no checkpoint.
func damagedStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	s, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.Create(ctx, store.RunInfo{ID: "bad", Agent: "a"}, [][]byte{[]byte("first")}))
	require.NoError(t, s.Create(ctx, store.RunInfo{ID: "good", Agent: "a"}, [][]byte{[]byte("g1"), []byte("g2")}))
	require.NoError(t, s.Append(ctx, store.Batch{RunID: "bad", Expected: 1, Records: [][]byte{[]byte("ZAPPED")}}))
	require.NoError(t, s.Append(ctx, store.Batch{RunID: "good", Expected: 2, Records: [][]byte{[]byte("g3")}}))
	require.NoError(t, s.Close())
	log := filepath.Join(dir, store.FileLogName)
	data, err := os.ReadFile(log)
	require.NoError(t, err)
	data[bytes.Index(data, []byte("ZAPPED"))] ^= 0x20
	require.NoError(t, os.WriteFile(log, data, 0o600))
	require.NoError(t, os.Remove(filepath.Join(dir, store.FileIndexName)))
	return dir
}

// snapshot returns the content of every file in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		m[e.Name()] = string(data)
	}
	return m
}

func TestVerify(t *testing.T) {
	t.Parallel()
	dir := damagedStore(t)
	before := snapshot(t, dir)
	code, out, _ := cli("-store", dir, "verify")
	require.Equal(t, exitError, code)
	require.Contains(t, out, "DAMAGED: run \"bad\" (records 1..1 intact)")
	require.Contains(t, out, "1 intact runs, 3 records")
	require.Equal(t, before, snapshot(t, dir), "verify changes nothing")

	clean := filepath.Join(t.TempDir(), "clean")
	s, err := store.NewFile(clean, nil)
	require.NoError(t, err)
	require.NoError(t, s.Create(context.Background(), store.RunInfo{ID: "r"}, [][]byte{[]byte("x")}))
	require.NoError(t, s.Close())
	code, out, _ = cli("-store", clean, "verify")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "no damage found")

	// A truncated log, which the checkpoint proves: exit 1, and why.
	log := filepath.Join(clean, store.FileLogName)
	require.NoError(t, os.Truncate(log, 16))
	code, _, errOut := cli("-store", clean, "verify")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "acknowledged data are missing")
}

func TestSalvage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := damagedStore(t)
	before := snapshot(t, src)
	dst := filepath.Join(t.TempDir(), "new")
	code, out, errOut := cli("salvage", src, dst)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "bad: 1 records copied; the rest is lost")
	require.Contains(t, out, "good: 3 records copied")
	require.Equal(t, before, snapshot(t, src), "the source is not changed")

	s, err := store.NewFile(dst, nil)
	require.NoError(t, err)
	defer s.Close()
	rs, err := s.Read(ctx, "good", 1)
	require.NoError(t, err)
	require.Len(t, rs, 3)
	rs, err = s.Read(ctx, "bad", 1)
	require.NoError(t, err)
	require.Equal(t, []store.Record{{Seq: 1, Data: []byte("first")}}, rs)
	ri, err := s.Get(ctx, "bad")
	require.NoError(t, err)
	require.Equal(t, "a", ri.Agent)
	require.Empty(t, s.Damage())

	code, _, errOut = cli("salvage", src, dst)
	require.Equal(t, exitError, code, "refuses a non-empty destination")
	require.Contains(t, errOut, "not empty")
}

// TestReadOnlyCommands runs runs and show in a directory its user may
// only read, with a torn tail: they work, report the tail on stderr, and
// change nothing.
func TestReadOnlyCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ro")
	s, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	require.NoError(t, s.Create(context.Background(), store.RunInfo{ID: "r", Agent: "a"}, nil))
	require.NoError(t, s.Close())
	f, err := os.OpenFile(filepath.Join(dir, store.FileLogName), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{0xc3, 0x52})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before := snapshot(t, dir)
	require.NoError(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

	code, out, errOut := cli("-store", dir, "runs")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "r")
	require.Contains(t, errOut, "torn tail")
	code, _, errOut = cli("-store", dir, "show", "r")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, before, snapshot(t, dir))
}
