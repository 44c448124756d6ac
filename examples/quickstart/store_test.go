package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// TestResumeFromStore: a run left unfinished in the store (here: killed
// after its model response) is resumed, not started anew, and a finished
// run is not redone.
func TestResumeFromStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := store.NewFile(dir, nil)
	require.NoError(t, err)
	a, err := ratchet.NewAgent(ratchet.Config{Name: "quickstart", Model: scriptedModel{}, Store: fs, Owner: "quickstart",
		Tools: []ratchet.Tool{ratchet.NewTool("calculator", "c", calculate), ratchet.NewTool("clock", "c", now)}})
	require.NoError(t, err)
	r, err := a.Start(ctx, "What is 6 times 7, and what time is it?", &ratchet.RunOptions{ID: "left"})
	require.NoError(t, err)
	_ = r
	require.NoError(t, fs.Close())

	require.NoError(t, run(ctx, dir))
	require.NoError(t, run(ctx, dir))

	fs, err = store.NewFile(dir, nil)
	require.NoError(t, err)
	defer fs.Close()
	infos, err := fs.List(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, infos, 1, "a new run was started instead of resuming")
	require.Equal(t, "left", infos[0].ID)
	require.Equal(t, string(ratchet.StatusSucceeded), infos[0].Status)
	require.EqualValues(t, 2, infos[0].Totals.Steps, "the finished run was redone")
}
