#!/bin/sh
# run.sh runs the framework comparison and prints the table (see
# BENCHMARKS.md at the repository root). It takes 3-7 minutes on two
# cores. BENCHTIME and COUNT override the defaults.
set -eu
cd "$(dirname "$0")"
BENCHTIME=${BENCHTIME:-200ms}
COUNT=${COUNT:-10}
BENCHSTAT=$(command -v benchstat || true)
if [ -z "$BENCHSTAT" ]; then
	go install golang.org/x/perf/cmd/benchstat@latest
	BENCHSTAT=$(go env GOPATH)/bin/benchstat
fi
out=${OUT:-results.txt}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(go version) $(nproc) cores" >&2
go test -run '^TestWorkload$' -count 1 .
go test -run '^$' -bench 'Agent' -benchmem -benchtime "$BENCHTIME" -count "$COUNT" -timeout 30m . >"$out"
go test -run '^$' -bench 'Suspended' -benchtime 1x -count "$COUNT" -timeout 30m . >>"$out"
"$BENCHSTAT" -col /fw -filter '.unit:(ns/step OR allocs/step OR B/step OR B/suspended-run)' "$out"
