#!/usr/bin/env bash
# perf/callgrind.sh — instructions per packet of each role's pipeline,
# counted by valgrind's callgrind over the in-memory backend
# (`moose bench pipeline`), which makes the figure repeatable: the same
# binary and arguments give the same count whatever else the machine does.
#
# Each role runs twice, with N and 2N frames after the same set-up; the
# difference of the two totals over N is the cost of one packet without the
# set-up (config, tables, host allocation). `io` moves the same frames
# from ring to ring with no worker (the backend's rx and tx alone, and the
# driver's refill copy), so `role - io` is the pipeline beyond rx/tx.
#
# Usage (from the repo root):
#   perf/callgrind.sh                       # flows 1, 64, 4096; N = 100000
#   FLOWS="64" N=200000 perf/callgrind.sh
#   BUILD=0 MOOSE=/path/to/moose perf/callgrind.sh
#   FLOW_CACHE=16384 perf/callgrind.sh      # [dataplane] flow_cache of the switch measured
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS=${FLOWS:-"1 64 4096"}
N=${N:-100000}
ROLES=${ROLES:-"io bridge edge fabric"}
FLOW_CACHE=${FLOW_CACHE:-16384}
if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release --quiet
fi
MOOSE=${MOOSE:-${CARGO_TARGET_DIR:-target}/release/moose}
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Total instructions of one run.
count() {
    local role=$1 flows=$2 frames=$3 out=$TMP/cg.$1.$2.$3
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$MOOSE" bench pipeline --role "$role" --flows "$flows" --frames "$frames" \
        --flow-cache "$FLOW_CACHE" >"$out.stdout" 2>"$out.stderr" || { cat "$out.stderr" >&2; exit 1; }
    grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}

echo "# $(date -u +%F) $("$MOOSE" --version | head -1); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); N=$N FLOW_CACHE=$FLOW_CACHE"
printf '%-8s %7s %14s %14s\n' role flows instr/pkt beyond-io
for flows in $FLOWS; do
    io=""
    for role in $ROLES; do
        a=$(count "$role" "$flows" "$N")
        b=$(count "$role" "$flows" $((2 * N)))
        per=$(awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
        [ "$role" = io ] && io=$per
        beyond=$([ -n "$io" ] && awk -v p="$per" -v i="$io" 'BEGIN { printf "%.1f", p - i }' || echo -)
        printf '%-8s %7s %14s %14s\n' "$role" "$flows" "$per" "$beyond"
    done
done
