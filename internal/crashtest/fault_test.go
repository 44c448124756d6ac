package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCrashFaults injects I/O faults into the store's log in the child:
// EIO and ENOSPC on write and on fdatasync, and short writes, at points
// spread over a whole run, in both modes. The child checks that the run
// fails with store.ErrFailed and that the store refuses changes until it
// is reopened (it exits with exitRefused only then); the next invocation
// reopens the store, without faults, and the run must go on and end as
// if nothing had happened: no acknowledged record lost, no acknowledged
// step repeated.
func TestCrashFaults(t *testing.T) {
	t.Parallel()
	faults := []struct{ kind, err string }{
		{"write", "EIO"}, {"write", "ENOSPC"}, {"write", "short"},
		{"sync", "EIO"}, {"sync", "ENOSPC"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ref := setup(t, append(m.env, "CRASH_FAULT=none")...)
			inv := ref.start(t, 0, 0, 0)
			require.Empty(t, ref.check(t))
			require.Greater(t, inv.writes, 10)
			require.Greater(t, inv.syncs, 10)
			n := max(points()/8, 3)
			for _, f := range faults {
				ops := inv.writes
				if f.kind == "sync" {
					ops = inv.syncs
				}
				// Group commit can merge concurrent appends into one
				// write, so a run may do fewer: stay in the first 3/4.
				last := max(ops*3/4, 1)
				for i := 0; i < n; i++ {
					at := 1 + i*(last-1)/max(n-1, 1)
					spec := fmt.Sprintf("%s:%s:%d", f.kind, f.err, at)
					t.Run(spec, func(t *testing.T) {
						t.Parallel()
						b := setup(t, append(m.env, "CRASH_FAULT="+spec)...)
						inv := b.start(t, 0, 0, 0)
						require.True(t, inv.refused, "the fault did not fail the run as it must: %q", b.findings)
						b.env = m.env // the disk works again
						b.finish(t)
						require.Empty(t, b.check(t))
					})
				}
			}
		})
	}
}
