#!/usr/bin/env bash
# The whole test suite: vet, every Go test with the race detector, a short
# run of every fuzz target, and (when present) the TypeScript provider's
# tests. CI runs exactly this (.ci/run). Knobs:
#   FUZZTIME=20000x how much each fuzz target runs (a count: Go 1.26 timed fuzz
#                  runs can end with a spurious "context deadline exceeded",
#                  golang/go#75804; 0 skips fuzzing; the full
#                  run of RELIABILITY.md is FUZZTIME=10m scripts/fuzz-all.sh,
#                  and scripts/long.sh runs the other long runs)
#   RACE=1         run go test with -race (0 to skip, e.g. for a quick local run)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-20000x}"
RACE="${RACE:-1}"

# A MinIO server for the S3 tests (scripts/minio.sh: installed once, own
# process, random loopback port, temp dir, stopped on exit). Tests that need
# it fail in CI without it. A preset SYNCD_TEST_S3_ENDPOINT is used as is.
source scripts/minio.sh
trap stop_minio EXIT
if [ -z "${SYNCD_TEST_S3_ENDPOINT:-}" ]; then
  start_minio
fi

echo "== go vet"
go vet ./...

echo "== go test"
race=()
if [ "$RACE" = "1" ]; then race=(-race); fi
go test "${race[@]}" -count=1 -timeout 30m ./...
if [ "$RACE" = "1" ]; then
  # Memory figures are meaningless under -race; those tests skip there and
  # run here.
  go test -count=1 -run 'Memory' ./watch/ ./blobs/
fi

echo "== syncd bench --quick"
# The benchmark harness end to end against a child syncd: it fails on a
# PARTIAL report or a failed correctness check, never on a timing.
benchout=$(mktemp -d)
go run ./cmd/syncd bench --quick --no-progress --out "$benchout"
SYNCD_BENCH_REPORT_DIR="$benchout" go test -count=1 -run 'TestReport_QuickRun' ./bench/
rm -rf "$benchout"

if [ "$FUZZTIME" != "0" ]; then
  echo "== fuzz ($FUZZTIME each)"
  for pkg in $(go list ./...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
    for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
      echo "-- $pkg $target"
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
    done
  done
fi

if [ -f provider/package.json ]; then
  echo "== provider"
  (cd provider && npm ci --no-audit --no-fund && npm test)
fi
echo "== all tests passed"
