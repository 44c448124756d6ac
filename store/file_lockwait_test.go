//go:build unix

package store_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/store"
)

// lockHolderEnv names the store directory of TestFileLockHolderProcess.
const lockHolderEnv = "RATCHET_STORE_LOCK_HOLDER_DIR"

// TestFileLockHolderProcess is not a test: it is the child process of
// TestFileAppendHonoursDeadlineWhileLocked. Like a process stopped in the
// middle of a group commit, it takes the store's lock file, writes half a
// frame at the end of the log, says "locked" and waits to be killed.
func TestFileLockHolderProcess(t *testing.T) {
	dir := os.Getenv(lockHolderEnv)
	if dir == "" {
		t.Skip("child process of TestFileAppendHonoursDeadlineWhileLocked")
	}
	lock, err := os.OpenFile(filepath.Join(dir, store.FileLockName), os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	wal, err := os.OpenFile(filepath.Join(dir, store.FileLogName), os.O_RDWR|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = wal.Write([]byte{0xc3, 0x52, 0xa7, 0x1e, 9, 0, 0})
	require.NoError(t, err)
	os.Stdout.WriteString("locked\n")
	select {}
}

// TestFileAppendHonoursDeadlineWhileLocked stops a process that holds the
// store's lock file and checks that appends, lease changes and reads that
// must catch up return by their deadline, that an append without a
// deadline queued behind a timed-out leader goes through once the holder
// dies, and that the holder's torn write is cut.
func TestFileAppendHonoursDeadlineWhileLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	f := openFile(t, dir, nil)
	require.NoError(t, f.Create(ctx, store.RunInfo{ID: "r"}, nil))

	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLockHolderProcess$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)
	require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))

	// returnsBy checks that op returns the deadline's error, well before
	// "hanging" (the bound is generous: the point is that it returns).
	returnsBy := func(name string, op func(ctx context.Context) error) {
		t.Helper()
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := op(dctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, name)
		require.Less(t, time.Since(start), 10*time.Second, name)
	}
	returnsBy("append", func(ctx context.Context) error {
		return f.Append(ctx, store.Batch{RunID: "r", Records: [][]byte{[]byte("x")}})
	})
	returnsBy("lease", func(ctx context.Context) error {
		_, err := f.AcquireLease(ctx, "r", "w", time.Now(), time.Now().Add(time.Hour))
		return err
	})
	returnsBy("get", func(ctx context.Context) error {
		_, err := f.Get(ctx, "r")
		return err
	})
	returnsBy("read", func(ctx context.Context) error {
		_, err := f.Read(ctx, "r", 1)
		return err
	})

	// A leader with a deadline gives up; the append queued behind it,
	// without one, leads next and waits.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	timed := make(chan error, 1)
	go func() { timed <- f.Append(dctx, store.Batch{RunID: "r", Records: [][]byte{[]byte("timed")}}) }()
	patient := make(chan error, 1)
	time.Sleep(50 * time.Millisecond) // let the timed one lead (either order is correct)
	go func() { patient <- f.Append(ctx, store.Batch{RunID: "r", Records: [][]byte{[]byte("patient")}}) }()
	require.ErrorIs(t, <-timed, context.DeadlineExceeded)
	select {
	case err := <-patient:
		t.Fatalf("append went through while the lock was held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.NoError(t, <-patient)
	require.Equal(t, []string{"patient"}, records(t, f, "r"))
}
