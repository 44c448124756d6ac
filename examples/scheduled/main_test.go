package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScheduled(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Equal(t, `[00:00] deployer-1 is waiting for a deploy event
[01:00] report: counting orders
[01:00] hourly-report-20260301T010000Z succeeded: orders so far: 42
[02:00] report: counting orders
[02:00] hourly-report-20260301T020000Z succeeded: orders so far: 42
[02:30] sending deploy v1.4.2 to deployer-1
[02:30] deployer-1 succeeded: smoke-tested v1.4.2
[03:00] report: counting orders
[03:00] hourly-report-20260301T030000Z succeeded: orders so far: 42
[04:00] report: counting orders
[04:00] hourly-report-20260301T040000Z succeeded: orders so far: 42
next report at 05:00
`, out.String())
}
