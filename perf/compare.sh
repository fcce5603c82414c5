#!/usr/bin/env bash
# perf/compare.sh — moose against dpdk-testpmd --forward-mode=mac over the
# matrix of pipelines, frame sizes and flow counts, each cell measured the
# way perf/bench-bridge.sh and perf/bench-moose.sh measure (same virtual
# devices, same core, same mbufs, testpmd and moose alternately, ROUNDS
# pairs), and one table of medians, min–max and ratios at the end.
#
# Usage (as root, from the repo root):
#   perf/compare.sh                                  # the whole matrix, 5 pairs a cell
#   PIPES="bridge" SIZES="64" FLOWS_LIST="64 4096" perf/compare.sh
#   ROUNDS=1 SECS=3 WARMUP=1 PIPES=edge SIZES=64 FLOWS_LIST=64 perf/compare.sh   # smoke
#
# Environment: PIPES (bridge edge fabric), SIZES (frame lengths with FCS:
# 64 512), FLOWS_LIST (1 64 4096), ROUNDS (5), SECS (5), WARMUP (1), BUILD
# (1), MOOSE, OUT (the directory for each cell's full output, default
# perf/compare-out). Each cell's script output is kept in OUT; the table is
# printed and written to OUT/summary.txt.
#
# Not covered yet (issue 12): IMIX and 1,000,000 flows — the cell scripts
# write their own fixed-size captures of at most a few thousand hosts;
# `moose gen` makes both kinds of capture, and the scripts do not take one
# yet.
set -euo pipefail
cd "$(dirname "$0")/.."
PIPES=${PIPES:-"bridge edge fabric"}
SIZES=${SIZES:-"64 512"}
FLOWS_LIST=${FLOWS_LIST:-"1 64 4096"}
export ROUNDS=${ROUNDS:-5} SECS=${SECS:-5} WARMUP=${WARMUP:-1}
OUT=${OUT:-perf/compare-out}
mkdir -p "$OUT"
if [[ ${BUILD:-1} == 1 && -z ${MOOSE:-} ]]; then
    cargo build --release --quiet
fi
export BUILD=0
[[ -n ${MOOSE:-} ]] && export MOOSE

summary=$OUT/summary.txt
{
    echo "# perf/compare.sh $(date -u +%FT%TZ); $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores; ROUNDS=$ROUNDS SECS=$SECS WARMUP=$WARMUP"
    printf '%-7s %5s %6s  %s\n' pipe size flows "result (from the cell's script)"
} >"$summary"

for pipe in $PIPES; do
    for size in $SIZES; do
        for flows in $FLOWS_LIST; do
            len=$((size - 4))
            log=$OUT/$pipe-$size-$flows.txt
            echo "== $pipe, $size B, $flows flows -> $log" >&2
            if [[ $pipe == bridge ]]; then
                pkts=$(( flows > 64 ? flows : 64 ))
                FLOWS=$flows FRAME_LEN=$len PKTS=$pkts perf/bench-bridge.sh >"$log" 2>&1 ||
                    { echo "$pipe $size $flows: failed, see $log" >&2; continue; }
                # Medians, min–max of the rounds, the ratio of medians.
                range() {
                    awk -v app="$1" '$1 ~ /^[0-9]+$/ && $2 == app && $3 ~ /^[0-9]+$/ {
                        v = $3 / 1e6; if (n == 0 || v < lo) lo = v; if (n == 0 || v > hi) hi = v; n++ }
                        END { if (n) printf "%.2f–%.2f", lo, hi }' "$log"
                }
                tp=$(awk '/^median testpmd/ {print $5}' "$log" | tr -d '(')
                mo=$(awk '/^median moose/ {print $5}' "$log" | tr -d '(')
                ra=$(awk '/^ratio / {print $3}' "$log")
                line="testpmd median $tp Mpps ($(range testpmd)) | moose median $mo Mpps ($(range moose)) | ratio of medians $ra"
            else
                # bench-moose.sh keeps its hosts under one port's
                # host_quota (4096): at most 4000 flows.
                if (( flows > 4000 )); then
                    echo "$pipe: $flows flows measured as 4000 (bench-moose.sh's limit)" >&2
                    flows=4000
                fi
                PIPELINE=$pipe FLOWS=$flows FRAME_LEN=$len perf/bench-moose.sh >"$log" 2>&1 ||
                    { echo "$pipe $size $flows: failed, see $log" >&2; continue; }
                line="$(grep -E "^$pipe +testpmd median" "$log" | sed -E "s/^$pipe +//")"
            fi
            printf '%-7s %5s %6s  %s\n' "$pipe" "$size" "$flows" "${line:-(no summary line: see $log)}" >>"$summary"
        done
    done
done
cat "$summary"
