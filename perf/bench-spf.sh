#!/usr/bin/env bash
# perf/bench-spf.sh — how long one switch takes to rebuild its routes
# after a change of the link-state database, for fabrics of 10, 100 and
# 1000 switches: `moose bench spf` (crates/moose-control/src/bench.rs) on a
# release build. Per phase (Graph::new from the adverts, SPF routes with
# ECMP, the broadcast tree, the FIB build) the median, min and max over
# the repetitions in microseconds, and the 1000/10 ratio of the medians.
# A benchmark, not a test: it exits non-zero only when the run fails,
# never because of a time. Needs no root and no DPDK devices.
#
# Usage (from the repo root):
#   perf/bench-spf.sh
#   BUILD=0 ROUNDS=3 perf/bench-spf.sh
#
# Environment:
#   ROUNDS   runs of `moose bench spf`, one after the other (default 1)
#   QUICK    1 = `--quick` (5 repetitions instead of 201; default 0)
#   JSON     1 = print the JSON objects instead of the tables (default 0)
#   MOOSE    moose binary (default $CARGO_TARGET_DIR/release/moose, built
#            with `cargo build --release` when BUILD=1)
#   BUILD    1 = run `cargo build --release` first (default 1)
set -euo pipefail

ROUNDS=${ROUNDS:-1}
QUICK=${QUICK:-0}
JSON=${JSON:-0}
BUILD=${BUILD:-1}

PROG=bench-spf
# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"    # die, moose_binary, cpu_line
(( ROUNDS >= 1 )) || die "ROUNDS must be >= 1"
moose_binary

args=(bench spf)
[[ $QUICK == 1 ]] && args+=(--quick)
[[ $JSON == 1 ]] && args+=(--json)

if [[ $JSON != 1 ]]; then
    echo "# moose bench spf: $ROUNDS round(s)$([[ $QUICK == 1 ]] && echo ", quick")"
    echo "# moose: $MOOSE ($("$MOOSE" --version 2>/dev/null | head -1))"
    echo "# cpu: $(cpu_line); load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
for r in $(seq 1 "$ROUNDS"); do
    if [[ $JSON != 1 && $ROUNDS -gt 1 ]]; then echo "# round $r"; fi
    "$MOOSE" "${args[@]}" || die "round $r: moose ${args[*]} failed"
done
