#!/usr/bin/env bash
# Actor runtime vs kube-runtime baseline at several sizes, against the in-process API server.
# Builds release binaries, runs `capt-load run` per (runtime, size) with bounded timeouts, and
# regenerates load/RESULTS.md from the report.json files.
#
#   SIZES="1000 5000 10000"  cluster counts (default)
#   RUNTIMES="actors kube-runtime"
#   RATE=100                 clusters created per second
#   NAMESPACES=20
#   TF_DELAY=uniform:1s-3s   simulated terraform apply time
#   TIMEOUT_PER_1K=300       seconds allowed per 1000 clusters (at least 300)
#   QUIET_SECS=10
#   EXTRA_ARGS=...           passed to every `capt-load run` (default: raised controller QPS/burst and Event budget)
#   OUT=load/results         report directories: $OUT/<runtime>-<size>/
#   SKIP_BUILD=1             reuse target/bench-bin
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000 5000 10000"}
RUNTIMES=${RUNTIMES:-"actors kube-runtime"}
RATE=${RATE:-100}
NAMESPACES=${NAMESPACES:-20}
TF_DELAY=${TF_DELAY:-uniform:1s-3s}
TIMEOUT_PER_1K=${TIMEOUT_PER_1K:-300}
QUIET_SECS=${QUIET_SECS:-10}
# The controller's client limit (default 200/s) would be the bottleneck of these runs, not the
# runtimes under test: both get the same raised limit.
EXTRA_ARGS=${EXTRA_ARGS:---controller-arg=--kube-api-qps=2000 --controller-arg=--kube-api-burst=4000 --controller-arg=--event-qps=500 --controller-arg=--event-burst=1000}
OUT=${OUT:-load/results}
BIN=target/bench-bin

if [[ -z "${SKIP_BUILD:-}" ]]; then
  cargo build --release -p capt -p capt-load
  mkdir -p "$BIN"
  cp target/release/capt target/release/capt-load "$BIN/"
fi
# The binaries must be the ones with the flags this script uses.
"$BIN/capt" run --help | grep -q -- '--runtime' || { echo "$BIN/capt lacks --runtime" >&2; exit 1; }
"$BIN/capt-load" run --help | grep -q -- '--clusters' || { echo "$BIN/capt-load lacks run --clusters" >&2; exit 1; }

mkdir -p "$OUT"
status=0
for size in $SIZES; do
  timeout_s=$(( size * TIMEOUT_PER_1K / 1000 ))
  (( timeout_s < 300 )) && timeout_s=300
  for rt in $RUNTIMES; do
    dir="$OUT/$rt-$size"
    echo "== $rt, $size clusters (timeout ${timeout_s}s) -> $dir" >&2
    # shellcheck disable=SC2086
    if ! timeout $(( timeout_s + 600 )) "$BIN/capt-load" run \
        --clusters "$size" --rate "$RATE" --namespaces "$NAMESPACES" \
        --tf-delay "$TF_DELAY" --timeout "$timeout_s" --quiet-secs "$QUIET_SECS" \
        --runtime "$rt" --controller-cmd "$BIN/capt run" \
        --label "$rt-$size" --out "$dir" $EXTRA_ARGS 2> "$dir.stderr.log"; then
      echo "   $rt at $size did not converge or failed (see $dir.stderr.log)" >&2
      status=1
    fi
    tail -n 3 "$dir.stderr.log" >&2 || true
  done
done
python3 load/report.py "$OUT" > load/RESULTS.md
echo "wrote load/RESULTS.md" >&2
exit $status
