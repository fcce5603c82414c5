#!/usr/bin/env bash
# perf/profile-bridge.sh — where a moose worker spends its time on the
# bench-bridge.sh workload (64-byte frames, pcap infinite_rx -> null).
# `perf stat` cycles are unsupported on our VMs, so this samples the
# cpu-clock software event (perf record -e cpu-clock) and charges samples of
# the moose binary to moose source lines through the inline chains
# (perf/attribute.py). Run as root from the repo root after a release build.
#   SECS=4 perf/profile-bridge.sh
#   FLOWS=64 perf/profile-bridge.sh     # 64 (src,dst) pairs, as bench-bridge.sh
set -euo pipefail
SECS=${SECS:-4}
FLOWS=${FLOWS:-1}
METRICS_PORT=${METRICS_PORT:-9482}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOOSE=${MOOSE:-${CARGO_TARGET_DIR:-$REPO/target}/release/moose}
[[ -x $MOOSE ]] || { echo "no moose binary at $MOOSE" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf not found" >&2; exit 1; }
TMP=$(mktemp -d /tmp/moose-prof.XXXXXX)
PF=mp$$
PID=
cleanup() {
    [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "/var/run/dpdk/$PF"
    if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "# kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
python3 - "$TMP/t.pcap" "$FLOWS" <<'PY'
import struct, sys
flows = int(sys.argv[2])
def mac(n):
    return bytes([0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff])
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(64):
        k = i % flows    # flow k: 2k+1 -> 2k+2, as bench-bridge.sh
        fr = mac(2 * k + 2) + mac(2 * k + 1) + b"\x08\x00" + bytes(46)
        f.write(struct.pack("<IIII", 0, i, len(fr), len(fr)) + fr)
PY
cat >"$TMP/m.toml" <<TOML
[switch]
name = "prof"
[dataplane]
workers = 1
cores = [1]
control_core = 0
idle = "poll"
eal = ["--no-huge", "-m", "1024", "--no-pci", "--no-telemetry", "--file-prefix=$PF", "--vdev=net_null0,no-rx=1"]
mbufs = 16383
[[port]]
name = "p0"
device = "net_pcap0,rx_pcap=$TMP/t.pcap,infinite_rx=1"
[[port]]
name = "p1"
device = "net_null0"
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
TOML
# DST=known (default, as bench-bridge.sh): the destination is a static FDB
# entry, frames are forwarded as known unicast; DST=unknown: flooded.
if [[ ${DST:-known} == known ]]; then
    for ((k = 0; k < FLOWS; k++)); do
        printf '[[static_fdb]]\nmac = "02:00:00:00:%02x:%02x"\nport = "p1"\n' $(((2 * k + 2) >> 8)) $(((2 * k + 2) & 255)) >>"$TMP/m.toml"
    done
fi
"$MOOSE" run -c "$TMP/m.toml" --json --duration $((SECS + 60)) >"$TMP/m.json" 2>"$TMP/m.log" &
PID=$!
until curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/m.log" >&2; exit 1; }
    sleep 0.1
done
sleep 1
tx() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "moose_port_tx_packets_total{port=\"p1\"}" {printf "%.0f", $2}'; }
a=$(tx); t0=$(date +%s.%N)
perf record -q -e cpu-clock -p "$PID" -o "$TMP/perf.data" -- sleep "$SECS" 2>/dev/null
b=$(tx); t1=$(date +%s.%N)
kill -TERM "$PID"; wait "$PID" || true; PID=
echo "# moose forwarded $(awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f", (b - a) / (t1 - t0) / 1e6}') Mpps while sampled"
# Only the worker thread (moose-w0); the slow path and the main thread
# run on core 0.
W=(--comms moose-w0)
echo "# samples by thread"
perf script -i "$TMP/perf.data" -F comm 2>/dev/null | sort | uniq -c | sort -rn || true
echo "# worker: by shared object (% of the worker's samples)"
perf report -i "$TMP/perf.data" "${W[@]}" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -8 || true
echo "# worker: by symbol"
perf report -i "$TMP/perf.data" "${W[@]}" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | sed 's/  */ /g' | cut -c1-110 | head -15 || true
total=$(perf script -i "$TMP/perf.data" "${W[@]}" -F ip 2>/dev/null | wc -l)
perf script -i "$TMP/perf.data" "${W[@]}" --no-demangle -F ip,sym,symoff,dso 2>/dev/null |
    awk -v b="$MOOSE" 'index($0, "(" b ")") {print $2}' | sort | uniq -c | sort -rn >"$TMP/syms.txt" || true
python3 "$REPO/perf/attribute.py" "$MOOSE" "$total" "$TMP/syms.txt" 30
