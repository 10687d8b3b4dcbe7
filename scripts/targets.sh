#!/usr/bin/env bash
# Every issue's performance target, one benchmark after the other, each
# printing its same-run baseline and ratio. Run it on a quiet machine: the
# figures are only as good as the machine is idle (the load average is
# logged before each one). Logs go to $OUT (default targets-<UTC time>/).
#
#   scripts/targets.sh            # everything (about 40 minutes on 2 cores)
#   scripts/targets.sh log engine # some groups: log engine jobs limits webhooks
#                                 # admin blobs replica bench
#
# S3 figures need SYNCD_TEST_S3_* (scripts/minio.sh start prints them).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-targets-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

# bench NAME PKG PATTERN BENCHTIME [NAME=value | -flag=value ...]: one
# benchmark, with that environment and those test flags, from a test
# binary built once per package.
bench() {
  local name=$1 pkg=$2 pattern=$3 benchtime=$4
  shift 4
  local exe="$bin/$(echo "$pkg" | tr '/.' '__').test"
  [ -x "$exe" ] || go test -c -o "$exe" "./$pkg" || return 1
  echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT/summary.txt"
  local envs=() flags=() a
  for a in "$@"; do # NAME=value: environment; -flag=value: the test binary's
    case $a in -*) flags+=("$a") ;; *) envs+=("$a") ;; esac
  done
  (cd "$pkg" && env "${envs[@]}" "$exe" -test.run '^$' -test.bench "$pattern" -test.benchtime "$benchtime" -test.timeout 2h "${flags[@]}") \
    >"$OUT/$name.log" 2>&1
  grep -E 'ratio|x fsync|x-raw|p99|per |target|rows/s|ops/s|appends/s|lag|caught up|heap' "$OUT/$name.log" |
    grep -v '^goos\|^goarch\|^pkg\|^cpu' | tee -a "$OUT/summary.txt"
}

group_log() { # issue 2
  bench committer-1-writer log 'BenchmarkCommitter/writers=1$' 5000x
  bench committer-64-writers log 'BenchmarkCommitter/writers=64$' 1500000x # ≥ 60 s each side
}
group_engine() { # issue 3, issue 5
  bench push-single-op engine 'BenchmarkPush/batch=1/workspaces=1$' 5000x
  bench push-100x8 engine 'BenchmarkPush/batch=100/workspaces=8$' 1200000x # ≥ 60 s each side
  bench pull engine 'BenchmarkPull' 1000x # pages of 1,000
  bench snapshot engine 'BenchmarkSnapshot' 3x
  bench gc-1M engine 'BenchmarkGCChangeLog' 1x SYNCD_BENCH_ROWS=1000000
}
group_jobs() { bench jobs-append jobs 'BenchmarkChunkAppend' 5000x; }                 # issue 8
group_limits() { bench check-and-record limits 'BenchmarkCheckAndRecord8' 1000000x; } # issue 9
group_webhooks() { bench webhook-push-latency webhooks 'BenchmarkPushLatency_WebhookReceiver5s' 1x; }
group_admin() { # issue 10
  bench verify admin 'BenchmarkVerify' 1x
  bench backup admin 'BenchmarkBackup$' 1x
  bench push-during-backup admin 'BenchmarkPushDuringBackup' 1x
  bench backup-s3 admin 'BenchmarkBackupS3' 1x # needs SYNCD_TEST_S3_*
}
group_blobs() { # issue 7
  bench fs-upload blobs 'BenchmarkFS_UploadDownload64MiB' 5x
  bench fs-put storage/fs 'BenchmarkPut_64MiB' 6x
  if [ -n "${SYNCD_TEST_S3_ENDPOINT:-}" ]; then bench s3-commit-4k blobs 'BenchmarkS3_Commit4KiB' 800x; fi
}
group_replica() { # issue 6
  # Regions with syncd's default 64 MiB memtables (the tests' default is 8).
  bench replica-lag replica 'BenchmarkReplica_Lag3Regions' 1x -replica.memtable-mb=64
  bench replica-catchup replica 'BenchmarkReplica_CatchUp' 1x -replica.memtable-mb=64
  bench replica-publish-overhead replica 'BenchmarkReplica_PublishOverhead' 1x
}
group_bench() { # issue 4 (HTTP, client in another process), issue 5 (1M-row snapshot)
  go build -o "$bin/syncd" ./cmd/syncd || return 1
  echo "== syncd bench (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT/summary.txt"
  "$bin/syncd" bench --no-progress --out "$OUT/syncd-bench" --cell 20s --batches 100 --clients 8 \
    --fanout 1000@20,100@200 --idle-watchers 10000 --pull-behind 1000000 --recovery-entries none \
    >"$OUT/syncd-bench.log" 2>&1
  grep -E '^\|' "$OUT/syncd-bench/report.md" | grep -iE 'pass|fail' | tee -a "$OUT/summary.txt"
}

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(log engine jobs limits webhooks admin blobs replica bench)
for g in "${groups[@]}"; do
  if ! declare -F "group_$g" >/dev/null; then
    echo "unknown group $g" >&2
    exit 2
  fi
  "group_$g"
done
echo "== done: $OUT/summary.txt"
