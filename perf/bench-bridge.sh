#!/usr/bin/env bash
# perf/bench-bridge.sh — single-core forwarding rate of the moose learning
# bridge against dpdk-testpmd (--forward-mode=mac) on identical virtual
# devices, run alternately for several rounds. A benchmark, not a test: it
# exits non-zero only when a run fails (process died, no counters), never
# because of a rate.
#
# Usage (as root, from the repo root):
#   perf/bench-bridge.sh
#   ROUNDS=5 SECS=8 perf/bench-bridge.sh
#
# Environment:
#   ROUNDS        rounds; each round runs the baseline then moose (default 3)
#   SECS          seconds of traffic per run (default 5)
#   WARMUP        seconds at the start of a run that are not measured (default 1)
#   FLOWS         distinct (src,dst) MAC pairs in the capture (default 1:
#                 02:00:00:00:00:01 -> 02:00:00:00:00:02)
#   PKTS          frames in the capture, flows round-robin (default 64)
#   DST           "known" (default): every destination is a static FDB entry
#                 on p1, the steady state of a bridge (unicast forwarding);
#                 "unknown": destinations are never learned, every frame is
#                 unknown unicast flooded to the single other port
#   FRAME_LEN     frame length without FCS (default 60, i.e. 64 on the wire)
#   METRICS_PORT  TCP port of moose's /metrics (default 9481)
#   MOOSE         moose binary (default $CARGO_TARGET_DIR/release/moose,
#                 built with `cargo build --release` when BUILD=1)
#   BUILD         1 = run `cargo build --release` first (default 1)
#   TESTPMD       testpmd binary (default dpdk-testpmd)
#   AGAINST       another moose binary to use as the baseline instead of
#                 testpmd (A/B of two builds on the same workload: the
#                 ratio is then moose/AGAINST), e.g. AGAINST=/tmp/moose.old
#   TSC_HZ        override the TSC frequency used for cycles/packet
#   KEEP_TMP      1 = keep the temp directory (logs) for inspection
#
# Method:
#   * testpmd: `-l 0,1` (main lcore 0, one forwarding lcore 1), --stats-period 1.
#     Its per-second "Tx-pps" of port 1 is computed by testpmd from TSC deltas.
#     Sample k covers second k-1..k of forwarding (sample 0 is empty). We keep
#     samples WARMUP+1 .. SECS and report their mean.
#   * moose: one worker on core 1, EAL main and slow path on core 0. Once
#     /metrics answers, we wait WARMUP s, scrape moose_port_tx_packets_total
#     {port="p1"}, wait SECS-WARMUP s, scrape again; pps = delta packets /
#     delta wall time (each scrape time-stamped as the midpoint of the curl).
#   * cycles/packet = TSC Hz / pps: one busy forwarding core in both cases.
#     TSC Hz: $TSC_HZ, else the kernel's "tsc: Refined TSC clocksource
#     calibration" or "tsc: Detected ... MHz" from dmesg/journal, else
#     "cpu MHz" of /proc/cpuinfo when the CPU has constant_tsc.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
FLOWS=${FLOWS:-1}
DST=${DST:-known}
PKTS=${PKTS:-64}
FRAME_LEN=${FRAME_LEN:-60}
METRICS_PORT=${METRICS_PORT:-9481}
BUILD=${BUILD:-1}
TESTPMD=${TESTPMD:-dpdk-testpmd}
KEEP_TMP=${KEEP_TMP:-0}

PROG=bench-bridge
# shellcheck source=perf/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"    # die, bench_setup, run_testpmd, median, ...
bench_setup
bench_tmp moose-bench
read -r TSC TSC_SRC < <(tsc_hz)

# ---- the capture -----------------------------------------------------------
PCAP=$TMP/t.pcap
python3 - "$PCAP" "$FLOWS" "$PKTS" "$FRAME_LEN" <<'EOF'
import struct, sys
path, flows, pkts, flen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
assert 60 <= flen <= 1514 and flows >= 1 and pkts >= 1
def mac(n):
    return bytes([0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff])
with open(path, "wb") as f:
    # pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(pkts):
        k = i % flows
        src, dst = mac(2 * k + 1), mac(2 * k + 2)    # flow 0: ..:01 -> ..:02
        payload = bytes(flen - 14)
        frame = dst + src + b"\x08\x00" + payload
        f.write(struct.pack("<IIII", 0, i, len(frame), len(frame)))
        f.write(frame)
EOF

# ---- moose -----------------------------------------------------------------
scrape() {    # prints "<unix time> <p1 tx packets>"
    local t0 t1 v
    t0=$(date +%s.%N)
    v=$(curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics" |
        awk '$1 == "moose_port_tx_packets_total{port=\"p1\"}" {printf "%.0f", $2}') || return 1
    t1=$(date +%s.%N)
    [[ -n $v ]] || return 1
    awk -v a="$t0" -v b="$t1" -v v="$v" 'BEGIN {printf "%.6f %s\n", (a + b) / 2, v}'
}

run_moose() {    # $1 = round, $2 = binary, $3 = name for files; sets RESULT (pps)
    local r=$1 bin=$2 pf=${TAG}-$3$1 cfg=$TMP/$3.$1.toml log=$TMP/$3.$1.log out=$TMP/$3.$1.json pid
    PREFIXES+=("$pf")
    cat >"$cfg" <<EOF
[switch]
name = "bench"
[dataplane]
workers = 1
cores = [1]
control_core = 0
idle = "poll"
eal = ["--no-huge", "-m", "1024", "--no-pci", "--no-telemetry", "--file-prefix=$pf", "--vdev=net_null0,no-rx=1"]  # p1 below finds it by name
mbufs = 16383
[[port]]
name = "p0"
device = "net_pcap0,rx_pcap=$PCAP,infinite_rx=1"
[[port]]
name = "p1"
device = "net_null0"
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
EOF
    if [[ $DST == known ]]; then
        for ((k = 0; k < FLOWS; k++)); do
            printf '[[static_fdb]]\nmac = "02:00:00:00:%02x:%02x"\nport = "p1"\n' \
                $(((2 * k + 2) >> 8)) $(((2 * k + 2) & 255)) >>"$cfg"
        done
    fi
    # --duration is only a safety net; the run is stopped with SIGTERM.
    "$bin" run -c "$cfg" --json --duration $((SECS + 60)) >"$out" 2>"$log" &
    pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + 30))
    until scrape >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "moose round $r exited early"; }
        (( SECONDS < deadline )) || { tail -20 "$log" >&2; die "moose round $r: /metrics never answered"; }
        sleep 0.1
    done
    sleep "$WARMUP"
    local a b
    a=$(scrape) || die "moose round $r: scrape failed"
    sleep $((SECS - WARMUP))
    b=$(scrape) || die "moose round $r: scrape failed"
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    rm -rf "/var/run/dpdk/$pf"
    (( rc == 0 )) || { tail -20 "$log" >&2; die "moose round $r exited with status $rc"; }
    if command -v jq >/dev/null; then
        jq -c '[.ports[] | {name, rx: .counters.rx_packets, tx: .counters.tx_packets,
                drops: ([.counters.drops[]] | add)}]' "$out" >"$TMP/$3.$1.summary" 2>/dev/null || true
    fi
    read -r ta va <<<"$a"
    read -r tb vb <<<"$b"
    RESULT=$(awk -v ta="$ta" -v va="$va" -v tb="$tb" -v vb="$vb" \
        'BEGIN {if (vb <= va) exit 1; printf "%.0f\n", (vb - va) / (tb - ta)}') ||
        die "moose round $r: tx counter did not move"
}

# ---- main ------------------------------------------------------------------
if [[ -n ${AGAINST:-} ]]; then
    [[ -x $AGAINST ]] || die "AGAINST=$AGAINST is not an executable"
    BASE=base
    run_base() { run_moose "$1" "$AGAINST" base; }
else
    BASE=testpmd
    run_base() { run_testpmd "$1" "$PCAP"; }
fi
echo "# moose bridge vs $BASE: $ROUNDS rounds x ${SECS}s (first ${WARMUP}s not measured), $FLOWS flow(s), ${FRAME_LEN}B frames, destinations $DST"
echo "# moose: $MOOSE ($("$MOOSE" --version 2>/dev/null | head -1))"
if [[ -n ${AGAINST:-} ]]; then
    echo "# base: $AGAINST ($("$AGAINST" --version 2>/dev/null | head -1))"
else
    echo "# testpmd: $(command -v "$TESTPMD")"
fi
echo "# TSC: $TSC Hz ($TSC_SRC); cpu: $(cpu_line)"
printf '%-6s %-8s %12s %8s %10s\n' round app pps Mpps cyc/pkt
TP=()
MO=()
for r in $(seq 1 "$ROUNDS"); do
    run_base "$r"
    p=$RESULT
    TP+=("$p")
    printf '%-6s %-8s %12s %8s %10s\n' "$r" "$BASE" "$p" "$(mpps "$p")" "$(cpp "$p")"
    run_moose "$r" "$MOOSE" moose
    p=$RESULT
    MO+=("$p")
    printf '%-6s %-8s %12s %8s %10s' "$r" moose "$p" "$(mpps "$p")" "$(cpp "$p")"
    if [[ -s $TMP/moose.$r.summary ]]; then printf '   final %s' "$(cat "$TMP/moose.$r.summary")"; fi
    echo
done
tpm=$(printf '%s\n' "${TP[@]}" | median)
mom=$(printf '%s\n' "${MO[@]}" | median)
printf 'median %-7s %s pps (%s Mpps, %s cycles/packet)\n' "$BASE" "$tpm" "$(mpps "$tpm")" "$(cpp "$tpm")"
printf 'median %-7s %s pps (%s Mpps, %s cycles/packet)\n' moose "$mom" "$(mpps "$mom")" "$(cpp "$mom")"
echo "ratio moose/$BASE $(awk -v a="$mom" -v b="$tpm" 'BEGIN {printf "%.3f", a / b}')"
