//go:build unix

package store_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet/internal/faultfs"
	"github.com/ratchet-run/ratchet/store"
)

// powerLossEnv names the store directory of TestFilePowerLossProcess.
const powerLossEnv = "RATCHET_STORE_POWERLOSS_DIR"

// TestFilePowerLossProcess is not a test: it is the child process of
// TestFilePowerLossKills. It opens the store in power-loss mode and
// appends to runs p0..p3 from four goroutines, printing "ACK run seq"
// after every acknowledged append, until it is killed.
func TestFilePowerLossProcess(t *testing.T) {
	dir := os.Getenv(powerLossEnv)
	if dir == "" {
		t.Skip("child process of TestFilePowerLossKills")
	}
	ctx := context.Background()
	f, err := store.NewFile(dir, &store.FileOptions{FS: faultfs.NewPowerLoss(faultfs.OS())})
	require.NoError(t, err)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for i := range 4 {
		id := fmt.Sprintf("p%d", i)
		wg.Go(func() {
			ri, err := f.Get(ctx, id)
			if err != nil {
				require.NoError(t, f.Create(ctx, store.RunInfo{ID: id}, nil))
			}
			for seq := ri.LastSeq + 1; ; seq++ {
				require.NoError(t, appendOne(ctx, f, id, seq))
				mu.Lock()
				fmt.Fprintf(out, "ACK %s %d\n", id, seq)
				_ = out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestFilePowerLossKills kills a child appending in power-loss mode (every
// write not yet fdatasync'd is lost with it) at random points, again and
// again on the same store: after every kill the store opens and holds
// every acknowledged record, each exactly as written.
func TestFilePowerLossKills(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	rng := rand.New(rand.NewPCG(1, 2))
	acked := map[string]uint64{}
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFilePowerLossProcess$")
		cmd.Env = append(os.Environ(), powerLossEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(stdout)
		killAt := 1 + rng.IntN(300)
		for n := 0; n < killAt && sc.Scan(); n++ {
			fields := strings.Fields(sc.Text())
			if len(fields) != 3 || fields[0] != "ACK" {
				continue
			}
			seq, err := strconv.ParseUint(fields[2], 10, 64)
			require.NoError(t, err)
			acked[fields[1]] = max(acked[fields[1]], seq)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		f, err := store.NewFile(dir, &store.FileOptions{VerifyLog: true})
		require.NoError(t, err, "round %d", round)
		require.Empty(t, f.Damage())
		for id, n := range acked {
			got := records(t, f, id)
			require.GreaterOrEqual(t, uint64(len(got)), n, "round %d run %s: acknowledged records lost", round, id)
			for i, r := range got {
				require.Equal(t, fmt.Sprintf("%s-%d", id, i+1), r)
			}
		}
		require.NoError(t, f.Close())
	}
	require.NotEmpty(t, acked)
}
