#!/usr/bin/env bash
# perf/compare.sh — moose against dpdk-testpmd --forward-mode=mac over the
# matrix of pipelines, frame sizes and flow counts, each cell measured the
# way perf/bench-bridge.sh and perf/bench-moose.sh measure (same virtual
# devices, same core, same mbufs, testpmd and moose alternately, ROUNDS
# pairs), and one table of medians, min–max and ratios at the end.
#
# Usage (as root, from the repo root):
#   perf/compare.sh                                  # the default matrix, 5 pairs a cell
#   SIZES="64 512 imix" FLOWS_LIST="1 64 4096 1000000" perf/compare.sh   # all of it
#   PIPES="bridge" SIZES="64" FLOWS_LIST="64 4096" perf/compare.sh
#   SECS=3 PIPES="bridge edge fabric" SIZES="imix" FLOWS_LIST="64 1000000" perf/compare.sh
#   ROUNDS=1 SECS=3 WARMUP=1 PIPES=edge SIZES=64 FLOWS_LIST=64 perf/compare.sh   # smoke
#
# Environment: PIPES (bridge edge fabric), SIZES (frame lengths with FCS,
# or imix: default 64 512), FLOWS_LIST (distinct MAC pairs, 1..1000000:
# default 1 64 4096), ROUNDS (5), SECS (5), WARMUP (1), BUILD (1), MOOSE,
# GEN (auto), OUT (the directory for each cell's full output, default
# perf/compare-out). Each cell's script output is kept in OUT; the table is
# printed and written to OUT/summary.txt.
#
# IMIX and 1,000,000 flows: such a cell replays a capture written by
# `moose gen` (its --size imix is 64, 594 and 1518 B as 7:4:1; up to
# 1,000,000 distinct flows) through the same devices for testpmd and moose,
# the cell scripts' SIZE= mode (see their headers): GEN=auto (default) uses
# moose gen for cells of size imix and for more flows than the scripts'
# own captures hold (bridge > 4096, edge and fabric > 4000), GEN=all for
# every cell (then all of a column come from one generator; the scripts'
# own MOOSE captures have 10 % ARP/ND frames, moose gen's none). Such
# cells are marked "[moose gen]" in the table. What 1,000,000 flows are:
#   * bridge: 1,000,000 distinct sources, learned before the window (a
#     full FDB, 1,065,536 entries with the 65,536 static destinations;
#     the analogue of CSIT's l2bdscale1mmaclrn), [bridge] max_entries
#     raised to hold them; the learn budget is raised while they are
#     learned and the default reloaded before the window (bench-bridge.sh
#     LEARN_PPS: at the default, 997,392 of 1M were in after 60 s);
#   * edge and fabric: 1,000,000 (source, destination) pairs among 65,536
#     hosts of the measured switch (moose gen's --hosts-per-switch bound;
#     [moose] max_hosts allows 16,777,215 under a /24, so the generator,
#     not moose, is the limit), host_quota raised to 65,536, the host
#     budget raised while they are allocated (bench-moose.sh HOST_PPS).
# The capture's frames stay in mbufs for the whole run (net_pcap
# infinite_rx), so a 1,000,000-frame cell runs with a pool of ≈ 1M mbufs
# and ≈ 5.5 GB of EAL memory in both testpmd and moose; the source then
# streams through memory instead of one cache-resident loop, which costs
# testpmd too (its rate falls from ≈ 30 to ≈ 10–13 Mpps here): the ratio
# still compares the same work, but on a capture that large the common
# rx cost is a bigger share of both.
# The default matrix stays 3 x 2 x 3 (≈ 20 minutes with ROUNDS=5); the
# full one, SIZES="64 512 imix" FLOWS_LIST="1 64 4096 1000000", is 36 cells
# and takes about an hour: a 1,000,000-flow cell took 1.5–4 minutes with
# SECS=3 on the shared 2-core VM (1M-frame captures to write and load,
# and in every moose run 4–7 s for the bridge to learn its sources —
# once 86 s under load — or 0–4 s to allocate the edge's hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
PIPES=${PIPES:-"bridge edge fabric"}
SIZES=${SIZES:-"64 512"}
FLOWS_LIST=${FLOWS_LIST:-"1 64 4096"}
GEN=${GEN:-auto}
[[ $GEN == auto || $GEN == all ]] || { echo "compare.sh: GEN must be auto or all (not $GEN)" >&2; exit 1; }
for size in $SIZES; do
    [[ $size == imix ]] || { [[ $size =~ ^[0-9]+$ ]] && (( size >= 64 && size <= 1518 )); } ||
        { echo "compare.sh: SIZES: $size is neither a frame length in 64..1518 nor imix" >&2; exit 1; }
done
for flows in $FLOWS_LIST; do
    [[ $flows =~ ^[0-9]+$ ]] && (( flows >= 1 && flows <= 1000000 )) ||
        { echo "compare.sh: FLOWS_LIST: $flows is not in 1..1000000" >&2; exit 1; }
done
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
    echo "# perf/compare.sh $(date -u +%FT%TZ); $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores; ROUNDS=$ROUNDS SECS=$SECS WARMUP=$WARMUP GEN=$GEN"
    printf '%-7s %5s %7s  %s\n' pipe size flows "result (from the cell's script)"
} >"$summary"

# A cell whose script failed keeps its row in the table.
failed() {
    echo "$pipe $size $flows: failed, see $log" >&2
    printf '%-7s %5s %7s  %s\n' "$pipe" "$size" "$flows" "(failed: $(tail -1 "$log"); see $log)" >>"$summary"
}
for pipe in $PIPES; do
    for size in $SIZES; do
        for flows in $FLOWS_LIST; do
            log=$OUT/$pipe-$size-$flows.txt
            echo "== $pipe, $size B, $flows flows -> $log" >&2
            # moose gen's capture (SIZE=) where the scripts' own cannot go.
            gen=0
            if [[ $GEN == all || $size == imix ]]; then
                gen=1
            elif [[ $pipe == bridge ]] && (( flows > 4096 )); then
                gen=1
            elif [[ $pipe != bridge ]] && (( flows > 4000 )); then
                gen=1
            fi
            note=
            (( gen == 0 )) || note=" [moose gen]"
            if [[ $pipe == bridge ]]; then
                if (( gen )); then
                    SIZE=$size FLOWS=$flows perf/bench-bridge.sh >"$log" 2>&1 ||
                        { failed; continue; }
                else
                    pkts=$(( flows > 64 ? flows : 64 ))
                    FLOWS=$flows FRAME_LEN=$((size - 4)) PKTS=$pkts perf/bench-bridge.sh >"$log" 2>&1 ||
                        { failed; continue; }
                fi
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
                # The scripts' own MOOSE captures hold at most 4000 hosts
                # (one port's default host_quota); more go through moose gen.
                if (( gen )); then
                    PIPELINE=$pipe SIZE=$size FLOWS=$flows perf/bench-moose.sh >"$log" 2>&1 ||
                        { failed; continue; }
                else
                    PIPELINE=$pipe FLOWS=$flows FRAME_LEN=$((size - 4)) perf/bench-moose.sh >"$log" 2>&1 ||
                        { failed; continue; }
                fi
                line="$(grep -E "^$pipe +testpmd median" "$log" | sed -E "s/^$pipe +//")"
            fi
            [[ -z $line ]] || line+=$note
            printf '%-7s %5s %7s  %s\n' "$pipe" "$size" "$flows" "${line:-(no summary line: see $log)}" >>"$summary"
        done
    done
done
cat "$summary"
