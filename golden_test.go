package ratchet_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

var update = flag.Bool("update", false, "rewrite golden transcripts in testdata/golden")

// TestGoldenTranscripts runs scripted runs and compares the stable text form
// of their steps with testdata/golden. Refresh with go test -run Golden -update.
func TestGoldenTranscripts(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3, 7, 11} {
		name := fmt.Sprintf("script-%d", seed)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var c counter
			a := newScriptAgent(t, store.NewMemory(nil), genScript(seed).model(t), &c, 0)
			run, err := a.Start(ctx, "go", nil)
			require.NoError(t, err)
			var b strings.Builder
			for !run.Status().Ended() {
				st, err := run.Step(ctx)
				require.NoError(t, err)
				b.WriteString(sortParallel(st))
			}
			path := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), b.String())
		})
	}
}

// sortParallel renders a step with its tool records grouped by call index:
// parallel calls finish in any order, which the transcript must not show.
func sortParallel(st ratchet.Step) string {
	lines := strings.Split(strings.TrimSuffix(st.String(), "\n"), "\n")
	head, body := lines[:1], lines[1:]
	var tools, rest []string
	for _, l := range body {
		if strings.HasPrefix(l, "  tool_") {
			tools = append(tools, l)
		} else {
			rest = append(rest, l)
		}
	}
	// Stable order: by call index, started before finished.
	key := func(l string) string {
		i := strings.Index(l, "call[")
		kind := "1"
		if strings.HasPrefix(l, "  tool_started") {
			kind = "0"
		}
		return l[i:i+8] + kind
	}
	for i := 1; i < len(tools); i++ {
		for j := i; j > 0 && key(tools[j]) < key(tools[j-1]); j-- {
			tools[j], tools[j-1] = tools[j-1], tools[j]
		}
	}
	out := append(head, rest[:min(1, len(rest))]...)
	out = append(out, tools...)
	if len(rest) > 1 {
		out = append(out, rest[1:]...)
	}
	return strings.Join(out, "\n") + "\n"
}
