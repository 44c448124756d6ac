package faultfs_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/internal/faultfs"
)

func read(t *testing.T, f faultfs.File) string {
	t.Helper()
	size, err := f.Size()
	require.NoError(t, err)
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil {
		require.ErrorIs(t, err, io.EOF)
	}
	return string(buf[:n])
}

func TestPowerLossKeepsUnsyncedWritesInMemory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	p := faultfs.NewPowerLoss(faultfs.OS())
	f, err := p.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("hello"), 0)
	require.NoError(t, err)
	require.Equal(t, "hello", read(t, f), "the writer sees its writes")
	disk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Empty(t, disk, "nothing reaches the file before a sync")

	require.NoError(t, f.Datasync())
	_, err = f.WriteAt([]byte(" world"), 5)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("W"), 6)
	require.NoError(t, err)
	require.Equal(t, "hello World", read(t, f))
	disk, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "hello", string(disk))

	require.NoError(t, f.Truncate(8))
	require.Equal(t, "hello Wo", read(t, f))
	p.Crash()
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, faultfs.ErrPowerOff)
	require.ErrorIs(t, f.Datasync(), faultfs.ErrPowerOff)
	require.NoError(t, f.Close())
	disk, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "hello", string(disk), "the unsynced writes are lost")
}

func TestPowerLossTempRenameWithoutSync(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := faultfs.NewPowerLoss(faultfs.OS())
	tmp, err := p.CreateTemp(dir, "idx.*.tmp")
	require.NoError(t, err)
	_, err = tmp.WriteAt([]byte("checkpoint"), 0)
	require.NoError(t, err)
	require.NoError(t, tmp.Close())
	require.NoError(t, p.Rename(tmp.Name(), filepath.Join(dir, "idx")))
	disk, err := os.ReadFile(filepath.Join(dir, "idx"))
	require.NoError(t, err)
	require.Empty(t, disk, "a file renamed without a sync is empty after a power loss")
}

// TestPowerLossChildKilled runs this test binary as a child that writes,
// syncs, writes more and waits to be killed with SIGKILL.
func TestPowerLossChildKilled(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPowerLossChildHelper$")
	cmd.Env = append(os.Environ(), "FAULTFS_CHILD_PATH="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	disk, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "synced", string(disk))
}

func TestPowerLossChildHelper(t *testing.T) {
	path := os.Getenv("FAULTFS_CHILD_PATH")
	if path == "" {
		t.Skip("child process of TestPowerLossChildKilled")
	}
	p := faultfs.NewPowerLoss(faultfs.OS())
	f, err := p.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("synced"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Datasync())
	_, err = f.WriteAt([]byte(" and lost"), 6)
	require.NoError(t, err)
	os.Stdout.WriteString("ready\n")
	select {} // killed
}

func TestFaultyWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	fsys := faultfs.NewFaulty(faultfs.OS(), faultfs.Nth(faultfs.OpWrite, 2, faultfs.Fault{Err: faultfs.ENOSPC, Written: 3}))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("abc"), 0)
	require.NoError(t, err)
	n, err := f.WriteAt([]byte("defghi"), 3)
	require.Equal(t, 3, n, "short write")
	require.ErrorIs(t, err, syscall.ENOSPC)
	var pe *os.PathError
	require.True(t, errors.As(err, &pe))
	require.Equal(t, "abcdef", read(t, f))

	fsys.SetInjector(faultfs.OnFile("log", faultfs.From(faultfs.OpSync, 1, faultfs.Fault{Err: faultfs.EIO})))
	require.ErrorIs(t, f.Datasync(), syscall.EIO)
	require.ErrorIs(t, f.Sync(), syscall.EIO)
	require.Len(t, fsys.Faults(), 3)

	fsys.SetInjector(faultfs.Nth(faultfs.OpWrite, 1, faultfs.Fault{Written: 1}))
	n, err = f.WriteAt([]byte("xy"), 0)
	require.Equal(t, 1, n)
	require.ErrorIs(t, err, io.ErrShortWrite)
}
