#!/usr/bin/env bash
# perf/sim.sh — the `moose sim` runs perf/sim.md records: the seed's
# 100 racks × 10,000 hosts (with plots), then how the simulation's own
# time and memory grow with the fabric (three-tier by racks, fat trees by k).
#
# Usage (from the repo root): perf/sim.sh            # everything, ~3 min
#         OUT=/tmp/sim perf/sim.sh                   # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-perf/sim-out}
MOOSE=${MOOSE:-target/release/moose}
[[ -n ${BUILD:-} ]] || cargo build --release --quiet
mkdir -p "$OUT"
echo "# perf/sim.sh $(date -u +%FT%TZ); $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores"
run() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$MOOSE" sim "$@" --json > "$OUT/$name.json"
    read -r wall rss < "$OUT/$name.time"
    python3 - "$OUT/$name.json" "$name" "$wall" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = {x["tier"]: x for x in r["tiers"]}
f = r["convergence"]["failures"]
print(f"{sys.argv[2]:<22} {r['hosts']:>9} hosts {r['switches']:>5} switches {r['links']:>5} links  "
      f"wall {float(sys.argv[3]):6.1f} s  max RSS {int(sys.argv[4])/1024:7.0f} MiB  "
      f"core {t['core']['entries_moose']} vs {t['core']['entries_ethernet']}  "
      f"cold {r['convergence']['initial_s']:.2f} s  down {f[0]['converged_s']:.3f} s  silent {f[1]['converged_s']:.3f} s")
PY
}
"$MOOSE" sim --racks 100 --hosts-per-rack 10000 --plot "$OUT/plots" > "$OUT/seed-100x10000.txt"
cat "$OUT/seed-100x10000.txt"
echo
for racks in 10 30 100; do run "three-tier-$racks" --racks "$racks" --hosts-per-rack 10000 --sweep none; done
for k in 8 16 24; do run "fat-tree-k$k" --topology fat-tree --k "$k" --hosts-per-rack 1000 --sweep none; done
