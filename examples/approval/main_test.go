package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApprovalResumesInANewProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	// First "process": nobody answers; the run stays waiting.
	require.NoError(t, run(context.Background(), dir, "", strings.NewReader(""), &out))
	require.Contains(t, out.String(), "No answer on stdin")
	// Second: the pending question is shown again and answered on stdin.
	out.Reset()
	require.NoError(t, run(context.Background(), dir, "", strings.NewReader("yes\n"), &out))
	require.Contains(t, out.String(), "resuming run cleanup-1 (waiting)")
	require.Contains(t, out.String(), "deleting branch release-2019")
	require.Contains(t, out.String(), "succeeded: Cleanup finished. The tool said: deleted release-2019")
}

func TestApprovalRejected(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), t.TempDir(), "no", strings.NewReader(""), &out))
	require.NotContains(t, out.String(), "deleting branch")
	require.Contains(t, out.String(), "the operator said no")
	require.Error(t, run(context.Background(), t.TempDir(), "maybe", nil, &out))
}
