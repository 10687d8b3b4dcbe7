#!/usr/bin/env bash
# The long runs of RELIABILITY.md, by hand (CI runs the short versions
# through scripts/test.sh). Each writes its log to $OUT (default
# long-results/<UTC time>/) and exits non-zero on failure.
#
#   scripts/long.sh soak        # 30-minute soak           (SOAK=30m)
#   scripts/long.sh crash       # 20 SIGKILLs under load   (KILLS=20)
#   scripts/long.sh isolation   # 100,000 random operations (OPS=100000)
#   scripts/long.sh hostile     # 10,000 idle connections, syncd's default timeouts (CONNS=10000)
#   scripts/long.sh fuzz        # every fuzz target 10 minutes (FUZZTIME=10m; scripts/fuzz-all.sh)
#   scripts/long.sh all         # all of the above, one after the other (about 7 hours)
#
# syncd is built once for the child-process tests (SYNCD_TEST_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-long-results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
go build -o "$bindir/syncd" ./cmd/syncd
export SYNCD_TEST_BIN="$bindir/syncd"

run() { # name, go test args...
  local name=$1; shift
  echo "== $name (log: $OUT/$name.log; load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))"
  go test -count=1 -v "$@" 2>&1 | tee "$OUT/$name.log" | grep -E '^(--- |ok|FAIL|PASS)|soak |kills|connections|guesses|closed after|final store' || true
  grep -q '^ok' "$OUT/$name.log"
}

soak()      { run soak -timeout 2h -run TestSoak_SteadyLoad ./internal/soak/ -soak.duration="${SOAK:-30m}"; }
crash()     { run crash -timeout 2h -run TestCrash ./internal/crashtest/ -crash.kills="${KILLS:-20}"; }
isolation() { run isolation -timeout 2h -run TestIsolation ./internal/isolation/ -isolation.ops="${OPS:-100000}"; }
hostile()   { SYNCD_HOSTILE_CONNS="${CONNS:-10000}" SYNCD_HOSTILE_FULL=1 run hostile -timeout 30m ./internal/hostile/; }
fuzz()      { FUZZTIME="${FUZZTIME:-10m}" OUT="$OUT/fuzz" scripts/fuzz-all.sh; }

case "${1:-}" in
  soak | crash | isolation | hostile | fuzz) "$1" ;;
  all) soak; crash; isolation; hostile; fuzz ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
echo "== $1 passed (logs in $OUT)"
